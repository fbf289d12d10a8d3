"""Showing one turn as it streams: what the terminal and the notebook show, at what pace,
and what is left on screen after an interrupt or a failure."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from nbstream.engine.result import (
    ChatResult,
    Retrying,
    Status,
    TextDelta,
    Timings,
    ToolCall,
    Usage,
)
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import AuthError, ConfigError, StreamError
from nbstream.session import Session
from nbstream.settings import NbStream, Settings
from nbstream.show.live import WAITING_REFRESH, LiveView, driver, stream_to
from nbstream.show.rendering import Throttle
from nbstream.show.surfaces import (
    SEGMENT,
    NotebookSurface,
    NullSurface,
    TerminalSurface,
    surface_for,
)
from nbstream.turn import TurnOptions

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

HELLO = [{"role": "user", "content": "Hello"}]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Screen:
    """A surface that keeps every update it is given, as a user would have seen them."""

    shown: list[tuple[str, str]] = field(default_factory=list)  # (reply text, status line)
    finished: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    size: int = 10

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        self.shown.append((result.text, last_line))
        return self.size

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        self.finished.append((result.text, last_line, meta))


def waiting() -> ChatResult:
    return ChatResult(status=Status.INCOMPLETE)


def streaming(text: str, tokens: int | None = None) -> ChatResult:
    count = len(text.split()) if tokens is None else tokens
    return ChatResult(
        text=text,
        status=Status.INCOMPLETE,
        model="m",
        usage=Usage(5, count, 5 + count),
        timings=Timings(first_token=0.2, last_token=0.2 + 0.1 * count, total=1.0),
    )


def finished(text: str, **changes: Any) -> ChatResult:
    tokens = len(text.split())
    base = dict(
        text=text,
        model="m",
        finish_reason="stop",
        usage=Usage(5, tokens, 5 + tokens),
        timings=Timings(first_token=0.25, last_token=1.25, total=1.5),
    )
    return ChatResult(**{**base, **changes})


def make_stream(settings: Settings, model: str = "nbstream-demo", **options: Any) -> ChatStream:
    return ChatStream(ChatRequest(HELLO, model, {"nbstream": options}), settings)


# --- LiveView: pace and status, with a clock moved by hand -----------------------------


def test_waiting_shows_a_status_with_the_elapsed_time_every_half_second() -> None:
    clock, screen = Clock(), Screen()
    view = LiveView(screen, waiting, clock=clock)
    assert view.tick() == WAITING_REFRESH
    clock.now += 0.05
    view.tick()  # too soon for another update
    clock.now += WAITING_REFRESH
    view.tick()
    assert screen.shown == [
        ("", "waiting for the first token · 0.00 s"),
        ("", "waiting for the first token · 0.55 s"),
    ]


def test_the_first_text_goes_out_at_once_even_right_after_a_waiting_update() -> None:
    clock, screen = Clock(), Screen()
    current = [waiting()]
    view = LiveView(screen, lambda: current[0], clock=clock)
    view.tick()
    clock.now += 0.001
    current[0] = streaming("Hi")
    view.tick()
    assert [text for text, _ in screen.shown] == ["", "Hi"]


def test_updates_are_at_most_ten_a_second_however_fast_text_arrives() -> None:
    clock, screen = Clock(), Screen()
    words: list[str] = []
    view = LiveView(screen, lambda: streaming(" ".join(words)), clock=clock)
    for step in range(200):  # a word every 10 ms for 2 s, a tick after each
        words.append(f"w{step}")
        view.tick()
        clock.now += 0.01
    assert 19 <= len(screen.shown) <= 21
    assert screen.shown[0][0] == "w0"  # the first word at once


def test_big_outputs_slow_the_updates_to_the_byte_budget() -> None:
    clock, screen = Clock(), Screen(size=50_000)
    words: list[str] = []
    throttle = Throttle(max_rate=10, byte_budget=100_000)
    view = LiveView(screen, lambda: streaming(" ".join(words)), clock=clock, throttle=throttle)
    for step in range(200):
        words.append(f"w{step}")
        view.tick()
        clock.now += 0.01
    assert 4 <= len(screen.shown) <= 5  # one update per 0.5 s: 50 kB at 100 kB/s


def test_an_unchanged_reply_is_not_sent_again() -> None:
    clock, screen = Clock(), Screen()
    view = LiveView(screen, lambda: streaming("same"), clock=clock)
    for _ in range(10):
        view.tick()
        clock.now += 1
    assert screen.shown == [("same", "streaming · 1 token · 0.00 s")]


def test_a_retry_is_told_in_the_status_until_the_first_text() -> None:
    clock, screen = Clock(), Screen()
    current = [waiting()]
    view = LiveView(screen, lambda: current[0], clock=clock)
    view.progress(Retrying("rate limited", 2.0, 1))
    assert view.progress.wake.is_set()
    view.tick()
    view.progress.wake.clear()
    view.progress(TextDelta("Hi"))
    assert view.progress.wake.is_set()
    current[0] = streaming("Hi there", tokens=2)
    clock.now += 0.6
    view.tick()
    assert screen.shown[0][1] == "rate limited, retrying in 2 s (attempt 1)"
    assert screen.shown[1][1].startswith("streaming · 2 tokens · 0.60 s")
    assert "retrying" not in screen.shown[1][1]


def test_the_end_shows_the_footer_with_thread_cost_and_the_record() -> None:
    screen = Screen()
    view = LiveView(
        screen,
        waiting,
        thread="notes",
        cost=lambda result: 0.0012,
        meta=lambda result: {"nbstream": {"status": result.status.value}},
    )
    view.end(finished("All done here"))
    [(text, line, meta)] = screen.finished
    assert text == "All done here"
    assert line.startswith("m · 5 → 3 tokens (8) · first token 0.25 s")
    assert line.endswith("finished · thread notes · $0.0012")
    assert meta == {"nbstream": {"status": "complete"}}


def test_an_error_before_any_reply_ends_the_output_saying_failed_not_repeating_it() -> None:
    screen = Screen()
    view = LiveView(screen, waiting, cost=lambda result: 1.0, meta=lambda result: {"x": 1})
    view.end(waiting(), ConfigError("no API key: nothing to authenticate with", "set it"))
    assert screen.finished == [("", "✖ failed", {})]  # the raised error carries the message


def test_a_broken_stream_ends_with_its_partial_reply_and_no_cost() -> None:
    screen = Screen()
    view = LiveView(screen, waiting, cost=lambda result: 1.0)
    partial = finished("one two three", status=Status.FAILED, finish_reason=None)
    view.end(partial, StreamError("the server reported an error", "", result=partial))
    [(text, line, _)] = screen.finished
    assert text == "one two three"
    assert "failed after 3 tokens" in line and "$" not in line


# --- TerminalSurface: what a terminal user reads ----------------------------------------


def test_the_terminal_gets_the_reply_as_it_grows_then_the_footer() -> None:
    out = io.StringIO()
    terminal = TerminalSurface(out)
    terminal.show(streaming("Hello"), "streaming · 1 token", ())
    terminal.show(streaming("Hello world"), "streaming · 2 tokens", ("a notice",))
    terminal.finish(finished("Hello world."), "m · finished", ("a notice",), {})
    assert out.getvalue() == "Hello[a notice]\n world.\n\nm · finished\n"


def test_the_terminal_shows_tool_calls_and_refusals_after_the_text() -> None:
    out = io.StringIO()
    calls = (ToolCall(0, "c1", "get_weather", '{"city": "Paris"}'),)
    TerminalSurface(out).finish(
        finished("", tool_calls=calls, refusal="I can't"), "m · asked for tool calls", (), {}
    )
    assert out.getvalue() == (
        '\n[tool call get_weather({"city": "Paris"})]\n[refusal: I can\'t]\n\n'
        "m · asked for tool calls\n"
    )


def test_an_empty_reply_on_the_terminal_is_just_its_last_line() -> None:
    out = io.StringIO()
    TerminalSurface(out).finish(waiting(), "✖ 401 from host", (), {})
    assert out.getvalue() == "✖ 401 from host\n"


# --- NotebookSurface: display outputs, captured from a real IPython shell ---------------


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()


def displays(outputs: list) -> dict[str, list]:
    """Each display id's updates, in order."""
    by_id: dict[str, list] = {}
    for output in outputs:
        by_id.setdefault(output.transient["display_id"], []).append(output)
    return by_id


def test_a_notebook_reply_is_one_output_updated_in_place(shell) -> None:
    surface = NotebookSurface()
    with capture_output() as captured:
        surface.show(streaming("Hello"), "streaming · 1 token", ())
        surface.show(streaming("Hello <b>world</b>"), "streaming · 2 tokens", ())
        surface.finish(finished("Hello <b>world</b>"), "m · finished", (), {"nbstream": {}})
    [updates] = displays(captured.outputs).values()
    assert [u.update for u in updates] == [False, True, True]
    final = updates[-1]
    assert final.data["text/plain"] == "Hello <b>world</b>\nm · finished"
    assert "&lt;b&gt;world&lt;/b&gt;" in final.data["text/markdown"]  # shown as text
    assert final.data["text/markdown"].endswith(">finished</span> m</div>")
    assert final.metadata == {"nbstream": {}}


def test_a_quiet_notebook_reply_drops_the_footer_only_when_complete(shell) -> None:
    with capture_output() as captured:
        NotebookSurface(quiet=True).finish(finished("fine"), "m · finished", (), {})
        broken = finished("half", status=Status.FAILED, finish_reason=None)
        NotebookSurface(quiet=True).finish(broken, "m · failed after 1 token", (), {})
    assert [o.data["text/plain"] for o in captured.outputs] == [
        "fine",
        "half\nm · failed after 1 token",
    ]


def test_a_plain_notebook_reply_has_no_markdown(shell) -> None:
    with capture_output() as captured:
        NotebookSurface(plain=True).finish(finished("**x**"), "m", (), {})
    assert captured.outputs[0].data == {"text/plain": "**x**\nm"}


def test_a_long_reply_goes_on_in_new_outputs_each_readable_on_its_own(shell) -> None:
    paragraphs = [f"Paragraph {i} " + " ".join(["lorem ipsum"] * 300) for i in range(30)]
    code = "```python\n" + "x = 1\n" * (SEGMENT // 3) + "```"  # longer than one output
    text = "\n\n".join([*paragraphs[:10], code, *paragraphs[10:]])
    surface = NotebookSurface()
    with capture_output() as captured:
        for end in range(0, len(text), 5_000):
            surface.show(streaming(text[:end]), "streaming", ("a notice",))
        surface.finish(finished(text), "m · finished", ("a notice",), {"nbstream": {}})
    outputs = displays(captured.outputs)
    finals = [updates[-1].data for updates in outputs.values()]  # what the notebook keeps
    plain = [data["text/plain"] for data in finals]
    assert len(finals) >= 4
    assert plain[0].startswith("[a notice]\nParagraph 0 ")
    assert not any("[a notice]" in part for part in plain[1:])
    assert plain[-1].endswith("\nm · finished")
    # No output is left showing a status line.
    assert not any(updates[-1].metadata.get("nbstream_live") for updates in outputs.values())
    bodies = [plain[0].removeprefix("[a notice]\n"), *plain[1:-1], plain[-1][:-13]]
    assert " ".join(bodies).split() == text.split()  # every word once, in order
    # The code block goes on in the next output under its own fence, so it still reads as code.
    code_outputs = [data["text/markdown"] for data in finals if "x = 1" in data["text/markdown"]]
    assert len(code_outputs) >= 2
    assert all(markdown.startswith("```python\n") for markdown in code_outputs[1:])
    for updates in outputs.values():
        assert max(len(u.data["text/plain"]) for u in updates) < SEGMENT * 2 + 4_000


# --- stream_to and driver: a real turn against the offline server -----------------------


def test_a_streamed_reply_is_written_whole_then_its_footer(settings) -> None:
    out = io.StringIO()
    result = stream_to(make_stream(settings, text="Hello there, world."), TerminalSurface(out))
    assert result.status is Status.COMPLETE
    body, footer = out.getvalue().split("\n\n")
    assert body == "Hello there, world."
    assert footer.startswith("nbstream-demo · ") and footer.endswith(" · finished\n")


class InterruptOnText(Screen):
    """A surface whose update raises KeyboardInterrupt once text is on screen, as a kernel
    interrupt would land in the main thread while it shows the reply."""

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        super().show(result, last_line, notices)
        if result.text:
            raise KeyboardInterrupt
        return 0


def test_an_interrupt_during_an_update_closes_the_connection_and_shows_it(settings, log) -> None:
    screen = InterruptOnText()
    stream = make_stream(settings, tokens=1000, rate=20)  # 50 s: it cannot end within HANG
    with pytest.raises(KeyboardInterrupt):
        stream_to(stream, screen)
    [(text, line, _)] = screen.finished
    assert text == stream.result.text and text
    assert stream.result.status is Status.INTERRUPTED
    assert " · interrupted after " in line
    assert log.wait_for(lambda records: records[-1].outcome == "disconnected", HANG)
    assert log.records[-1].chunks_sent < 1000


def test_a_failure_before_the_first_token_leaves_the_error_not_a_waiting_line(
    settings, log
) -> None:
    out = io.StringIO()
    with pytest.raises(AuthError):
        stream_to(make_stream(settings, "fault-401"), TerminalSurface(out))
    last = out.getvalue().splitlines()[-1]
    assert last == "✖ failed"  # the AuthError says why, once
    assert SECRET_KEY not in out.getvalue()
    assert len(log.records) == 1


def test_an_error_mid_stream_leaves_the_partial_reply_and_why_it_failed(settings) -> None:
    out = io.StringIO()
    with pytest.raises(StreamError):
        stream_to(make_stream(settings, "fault-error-event"), TerminalSurface(out))
    body, footer = out.getvalue().split("\n\n")
    assert len(body.split()) == 3
    assert "failed after 3 tokens" in footer


def test_a_dropped_connection_returns_the_partial_reply_marked_incomplete(settings) -> None:
    out = io.StringIO()
    result = stream_to(make_stream(settings, "fault-disconnect"), TerminalSurface(out))
    assert result.status is Status.INCOMPLETE
    assert "connection lost after 5 tokens (no finish reason)" in out.getvalue()


def test_the_driver_labels_the_output_with_the_recorded_turn(
    shell, server, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    session = Session(NbStream(base_url=server.url, model="nbstream-demo"), cache=tmp_path / "c")
    options = TurnOptions(thread="labels", params={"nbstream": {"text": "Labelled"}})
    with capture_output() as captured:
        session.chat("Hi", options, driver(NotebookSurface(), cost=session.cost))
    [exchange] = session.store.thread("labels").exchanges
    record = captured.outputs[-1].metadata["nbstream"]
    assert record["turn_id"] == exchange.turn_id
    assert (record["thread"], record["status"], record["model"]) == (
        "labels",
        "complete",
        "nbstream-demo",
    )
    assert captured.outputs[-1].data["text/plain"].startswith("Labelled\nnbstream-demo · ")


# --- which surface ------------------------------------------------------------------------


def test_plain_python_shows_nothing_unless_asked() -> None:
    assert isinstance(surface_for(None), NullSurface)
    assert isinstance(surface_for(True), TerminalSurface)
    assert isinstance(surface_for(False), NullSurface)


def test_terminal_ipython_gets_text_and_show_false_always_wins(shell) -> None:
    assert isinstance(surface_for(None), TerminalSurface)
    assert isinstance(surface_for(False), NullSurface)


def test_a_null_surface_still_returns_the_reply(settings) -> None:
    result = stream_to(make_stream(settings, text="quiet"), NullSurface())
    assert result.text == "quiet"


# --- in a real kernel ---------------------------------------------------------------------

KERNEL_TURN = """
from nbstream.session import Session
from nbstream.turn import TurnOptions
from nbstream.settings import NbStream
from nbstream.show.live import driver
from nbstream.show.surfaces import surface_for
session = Session(NbStream(base_url={url!r}, model="nbstream-demo"))
options = TurnOptions(thread="k", params={{"nbstream": {{"tokens": 60, "rate": 20}}}})
session.chat("Hi", options, driver(surface_for(None), cost=session.cost))
"""


@pytest.mark.kernel
def test_in_a_kernel_a_turn_streams_into_one_output_labelled_with_its_turn(
    server, tmp_path
) -> None:
    kernel = Kernel(clean_env(OPENAI_API_KEY=SECRET_KEY), cwd=tmp_path)
    try:
        run = kernel.execute(KERNEL_TURN.format(url=server.url))
        assert run.reply["status"] == "ok", run.error
        recorded = kernel.execute(
            "print(session.store.thread('k').exchanges[0].turn_id)"
        ).text.strip()
    finally:
        kernel.shutdown()
    [first] = run.of("display_data")
    updates = run.of("update_display_data")
    # It grew in place: 60 tokens at 20 a second leave 3 s for updates (at most 10 a second),
    # so a busy kernel still sends a few.
    assert len(updates) >= 3
    ids = {first["transient"]["display_id"]} | {u["transient"]["display_id"] for u in updates}
    assert len(ids) == 1
    assert any("\nstreaming · " in u["data"]["text/plain"] for u in updates[:-1])
    final = run.final
    footer = final["data"]["text/plain"].split("\n")[-1]
    assert footer.startswith("nbstream-demo · ") and " → 60 tokens " in footer
    assert footer.endswith(" · finished · thread k")
    assert set(final["data"]) == {"text/markdown", "text/plain"}
    assert final["metadata"]["nbstream"]["turn_id"] == recorded
    assert final["metadata"]["nbstream"]["thread"] == "k"
