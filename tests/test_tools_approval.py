"""Whether a tool call may run: `auto` runs all, `ask` asks unless the tool is safe, and no
answer (no stdin, EOF) is a no."""

from __future__ import annotations

import pytest

import nbstream
from nbstream.errors import ToolError
from nbstream.tools.approval import Approve, approve_mode, approved
from nbstream.tools.function import describe


def delete(path: str) -> str:
    """Delete a file."""
    return path


@nbstream.tool(safe=True)
def read(path: str) -> str:
    """Read a file."""
    return path


def asker(answer: str, asked: list[str]):  # type: ignore[no-untyped-def]
    def ask(prompt: str) -> str:
        asked.append(prompt)
        return answer

    return ask


@pytest.mark.parametrize(("answer", "runs"), [("y", True), (" YES ", True), ("n", False),
                                              ("", False), ("sure", False)])  # fmt: skip
def test_ask_runs_the_call_only_on_yes(answer: str, runs: bool) -> None:
    asked: list[str] = []
    assert approved(describe(delete), '{"path":"a.txt"}', Approve.ASK, asker(answer, asked)) is runs
    assert asked == ['nbstream: run delete({"path":"a.txt"})? [y/N] ']


def test_safe_tools_and_auto_mode_never_ask() -> None:
    asked: list[str] = []
    assert approved(describe(read), "{}", Approve.ASK, asker("n", asked))
    assert approved(describe(delete), "{}", Approve.AUTO, asker("n", asked))
    assert asked == []


def test_no_stdin_or_eof_counts_as_denied() -> None:
    def no_stdin(prompt: str) -> str:
        raise EOFError

    assert approved(describe(delete), "{}", Approve.ASK, no_stdin) is False


def test_long_arguments_are_cut_in_the_question() -> None:
    asked: list[str] = []
    approved(describe(delete), "a" * 500, Approve.ASK, asker("n", asked))
    assert asked == [f"nbstream: run delete({'a' * 199}…)? [y/N] "]


def test_the_mode_is_ask_or_auto_and_anything_else_names_both() -> None:
    assert approve_mode("auto") is Approve.AUTO and approve_mode(Approve.ASK) is Approve.ASK
    with pytest.raises(ToolError, match="approve must be 'ask' or 'auto', not 'always'"):
        approve_mode("always")
