"""The progress view of a data-scale run: one small output at any n, model text as text, the live
line and the final summary, and nothing drawn where nothing may be shown."""

from __future__ import annotations

import pytest

from nbstream.engine.result import ChatResult, Usage
from nbstream.scale.progress import Progress
from nbstream.show.progress import ProgressView, lines, render


def reply(text: str, tokens: int = 10) -> ChatResult:
    return ChatResult(text=text, usage=Usage(completion_tokens=tokens))


def test_the_view_stays_small_at_any_number_of_items_and_any_reply_length() -> None:
    progress = Progress(1_000_000)
    for i in range(5_000):
        progress.end(f"row {i}" * 50, reply("long reply " * 10_000), 0.01, resumed=False)
    for final in (False, True):
        data = render(progress, final=final)
        assert sum(len(v.encode()) for v in data.values()) < 10_000


def test_model_text_and_labels_are_shown_as_text_never_as_markup() -> None:
    progress = Progress(2)
    progress.end("<b>label</b>", reply("<script>alert(1)</script> <img src=x onerror=y>"), None,
                 resumed=False)  # fmt: skip
    html = render(progress, final=False)["text/html"]
    assert "<script>" not in html and "<img" not in html and "<b>label" not in html
    assert "&lt;script&gt;" in html


def test_the_live_line_counts_what_runs_and_the_final_one_what_it_took() -> None:
    progress = Progress(10, estimate="about 1,000 tokens, $0.01", concurrency=4)
    progress.stopped, progress.status_line = "max_cost reached: no more items", "batch: in progress"
    live, *notes = lines(progress, final=False)
    assert live.startswith("0/10 done · 0 in flight · 0 tok/s · 4 at once · ")
    assert notes == ["max_cost reached: no more items", "batch: in progress",
                     "about 1,000 tokens, $0.01"]  # fmt: skip
    final = lines(progress, final=True)[0]
    assert final.startswith("0/10 done · 0 tok/s · wall ")
    assert "in flight" not in final and "at once" not in final and "ETA" not in final


def test_the_bar_fills_with_the_share_of_items_ended_and_the_last_replies_are_listed() -> None:
    progress = Progress(8)
    for label in ("a", "b"):
        progress.end(label, reply(f"reply  {label}\n  here"), None, resumed=False)
    data = render(progress, final=False)
    assert "width:25.0%" in data["text/html"]
    assert data["text/plain"].splitlines()[-2:] == ["  a: reply a here", "  b: reply b here"]


@pytest.mark.parametrize("show", [False, True], ids=["hidden", "terminal"])
def test_outside_a_notebook_nothing_is_drawn_and_a_terminal_gets_the_summary(
    show: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    progress = Progress(2, clock=lambda: 0.0)
    progress.end("a", reply("x"), None, resumed=False)
    view = ProgressView(progress, show)
    view.tick()
    view.end()
    printed = capsys.readouterr().out
    assert view.messages == 0
    assert printed == ("1/2 done · 0 tok/s · wall 0.00 s\n" if show else "")


def test_ticks_and_the_final_drawing_put_at_most_two_messages_in_any_second() -> None:
    now = [0.0]
    progress = Progress(1_000, clock=lambda: now[0])
    view = ProgressView(progress, None, clock=lambda: now[0])
    drawn: list[float] = []
    view._draw = lambda data: drawn.append(now[0])  # type: ignore[method-assign]
    for step in range(200):  # an item ends every 0.05 s; the loop ticks as often
        now[0] = step * 0.05
        progress.end(f"item {step}", reply("x"), None, resumed=False)
        view.tick()
    view.end()
    assert len(drawn) == 11  # ten seconds of ticks, and the final drawing
    assert max(sum(t <= d < t + 1 for d in drawn) for t in drawn) == 2
