"""A tool call that is still running reads as running, in the live Markdown and the plain text."""

from __future__ import annotations

from nbstream.engine.result import ChatResult, Status
from nbstream.engine.toolrounds import Outcome, ToolRound, ToolRun
from nbstream.show.tooluse import rounds_markdown, rounds_text

CALL = ToolRun(id="c1", name="stats", arguments='{"column":"a"}', outcome=Outcome.INTERRUPTED)


def test_a_call_running_in_a_live_snapshot_says_running() -> None:
    live = ChatResult(status=Status.INCOMPLETE, tool_rounds=(ToolRound(runs=(CALL,)),))
    assert rounds_text(live) == '[tool stats({"column":"a"}) running]'
    assert "running" in rounds_markdown(live) and "interrupted" not in rounds_markdown(live)


def test_a_call_stopped_by_an_interrupt_says_interrupted() -> None:
    ended = ChatResult(status=Status.INTERRUPTED, tool_rounds=(ToolRound(runs=(CALL,)),))
    assert rounds_text(ended) == '[tool stats({"column":"a"}) interrupted]'
    assert "interrupted" in rounds_markdown(ended)
