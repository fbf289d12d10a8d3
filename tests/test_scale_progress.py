"""The progress view of a data-scale run, without a kernel: its size does not grow with the
number of items or their length, model text goes through the safe renderer, ETA and summary."""

from __future__ import annotations

from nbstream.engine.result import ChatResult, Status, Usage
from nbstream.scale.progress import Progress
from nbstream.show.progress import render


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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


def test_counts_cost_and_eta() -> None:
    clock = Clock()
    progress = Progress(10, clock=clock)
    progress.end("a", reply("x", 5), None, resumed=True)
    clock.now = 4.0
    progress.end("b", reply("y", 7), 0.5, resumed=False)
    progress.end("c", ChatResult(status=Status.FAILED, error="boom"), None, resumed=False)
    assert (progress.done, progress.failed, progress.resumed) == (2, 1, 1)
    assert progress.eta == 4.0 / 2 * 7  # two asked in 4 s, seven left
    line = render(progress, final=False)["text/plain"].splitlines()[0]
    assert line.startswith("3/10 done · 0 in flight · 1 failed · 1 from the record")
    assert " · $0.5000 · " in line and progress.completion_tokens == 7
