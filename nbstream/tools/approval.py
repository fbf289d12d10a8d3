"""Whether a tool call may run: `auto` runs every call, `ask` asks for functions not marked safe.

Asking uses `input()` on the main thread. Under nbclient or papermill there is no stdin and
`input()` raises: that counts as *denied*, so a headless run never runs a tool nobody approved.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from enum import Enum

from ..errors import ToolError
from .function import Tool


class Approve(str, Enum):
    """How tool calls are approved."""

    ASK = "ask"  # ask before each call of a function not marked safe
    AUTO = "auto"  # run every call without asking


def approve_mode(value: Approve | str) -> Approve:
    """`value` as an Approve; a ToolError names the choices."""
    try:
        return Approve(value)
    except ValueError:
        raise ToolError(f"approve must be 'ask' or 'auto', not {value!r}") from None


#: A front end's own way to ask (the panel's Approve / Deny): (tool name, arguments) -> allowed.
AskTool = Callable[[str, str], Awaitable[bool]]


def must_ask(tool: Tool, mode: Approve) -> bool:
    """Whether a call of `tool` needs the user's yes: under `ask`, for a function not safe."""
    return not tool.safe and mode is Approve.ASK


def cannot_ask(question: str) -> str:
    """The `ask` of a call made where nobody can answer (no cell waits for it): no."""
    raise EOFError("no cell waits for this call: nobody can approve it")


def approved(
    tool: Tool, arguments: str, mode: Approve, ask: Callable[[str], str] | None = None
) -> bool:
    """True if the call may run; asks with `ask` (`input`) when it must."""
    if not must_ask(tool, mode):
        return True
    shown = arguments if len(arguments) <= 200 else arguments[:199] + "…"
    try:
        # Looked up now: ipykernel puts its own `input` in builtins for each cell it runs.
        answer = (ask or builtins.input)(f"nbstream: run {tool.name}({shown})? [y/N] ")
    except Exception:  # no stdin (nbclient, papermill: StdinNotImplementedError), EOF: fail closed
        return False
    return answer.strip().lower() in ("y", "yes")
