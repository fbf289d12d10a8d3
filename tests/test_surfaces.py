"""Where a turn is shown: a terminal gets plain text as it grows; nowhere shows nothing."""

from __future__ import annotations

import io

from nbstream.engine.result import ChatResult, Status, ToolCall
from nbstream.show.surfaces import NullSurface, TerminalSurface, surface_for


def test_a_terminal_gets_each_new_piece_once_then_the_footer() -> None:
    out = io.StringIO()
    surface = TerminalSurface(out)
    assert surface.show(ChatResult(text="Hel"), "streaming", ()) == 3
    assert surface.show(ChatResult(text="Hello"), "streaming", ("second choice ignored",)) == 2
    surface.finish(ChatResult(text="Hello!"), "finished · 2 tokens", ("second choice ignored",), {})
    assert out.getvalue() == "Hel[second choice ignored]\nlo!\n\nfinished · 2 tokens\n"


def test_a_terminal_shows_tool_calls_and_refusals_after_the_text() -> None:
    out = io.StringIO()
    result = ChatResult(
        refusal="I can't", tool_calls=(ToolCall(0, "c1", "get_weather", '{"city":"Oslo"}'),)
    )
    TerminalSurface(out).finish(result, "finished", (), {})
    assert out.getvalue() == (
        '\n[tool call get_weather({"city":"Oslo"})]\n[refusal: I can\'t]\n\nfinished\n'
    )


def test_a_reply_with_nothing_to_show_leaves_only_its_footer() -> None:
    out = io.StringIO()
    TerminalSurface(out).finish(ChatResult(status=Status.FAILED), "failed", (), {})
    assert out.getvalue() == "failed\n"


def test_outside_ipython_nothing_shows_unless_asked() -> None:
    assert isinstance(surface_for(None), NullSurface)
    assert isinstance(surface_for(False), NullSurface)
    assert isinstance(surface_for(True), TerminalSurface)
    assert NullSurface().show(ChatResult(text="x"), "", ()) == 0
