"""The tools of one turn: what the session asks of them, in one place.

The session describes the turn's functions here, adds their schemas to the request (so the cache
key includes them), and has its first stream wrapped in a `ToolLoop` when there are tools.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.request import ChatRequest
from ..errors import ToolError
from .approval import Approve, AskTool, approve_mode
from .function import Tool, toolbox
from .loop import ToolLoop
from .mainthread import INBOX


@dataclass(frozen=True)
class FrontEnd:
    """What a front end other than a cell gives a turn's tools (the panel does)."""

    ask: AskTool | None = None  # its own Approve / Deny (None: `input()` in the cell)
    prints: Callable[[str], None] | None = None  # where a tool's prints go (None: the cell)


if TYPE_CHECKING:
    from ..engine.stream import ChatStream
    from ..settings import NbStream


@dataclass(frozen=True)
class ToolSet:
    """A turn's described tools and how their calls run (empty: a turn without tools)."""

    tools: tuple[Tool, ...] = ()
    approve: Approve = Approve.ASK
    max_rounds: int = 8
    result_chars: int = 20_000
    keys: list[str] = field(default_factory=list)
    front: FrontEnd = FrontEnd()

    @classmethod
    def of(
        cls,
        functions: tuple[Any, ...],
        approve: str | None,
        max_rounds: int | None,
        config: NbStream,
        keys: list[str],
        front: FrontEnd | None = None,
    ) -> ToolSet:
        """The turn's tools, its options over the settings; raises ToolError."""
        if not functions:
            return cls()
        return cls(
            tuple(toolbox(functions)),
            approve_mode(approve or config.approve),
            config.max_tool_rounds if max_rounds is None else max_rounds,
            config.tool_result_chars,
            keys,
            front or FrontEnd(),
        )

    def params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The request parameters with the tools' schemas added."""
        if not self.tools:
            return dict(params)
        return {**params, "tools": [tool.definition() for tool in self.tools]}

    def loop(
        self, first: ChatStream, again: Callable[[ChatRequest], ChatStream]
    ) -> ChatStream | ToolLoop:
        """`first` alone, or a ToolLoop whose first round is `first`."""
        if not self.tools:
            return first
        streams = iter([first])

        def start(request: ChatRequest) -> ChatStream:
            stream = next(streams, None)
            return again(request) if stream is None else stream

        return ToolLoop(
            first.request,
            list(self.tools),
            start,
            approve=self.approve,
            max_rounds=self.max_rounds,
            result_chars=self.result_chars,
            keys=self.keys,
            ask=self.front.ask,
            prints=self.front.prints,
        )


def refuse_tools(options: dict[str, Any], where: str) -> None:
    """A one-line ToolError when tools are offered to a call that runs many turns at once."""
    if options.get("tools"):
        raise ToolError(f"{where} does not run tools", "offer them to chat(), achat() or a Chat")


def check_main_thread(options: dict[str, Any]) -> None:
    """Tools run on the main thread: in the cell that waits for the turn, or scheduled onto
    the main thread's event loop (a kernel's); a plain script's other threads have neither."""
    on_main = threading.current_thread() is threading.main_thread()
    if options.get("tools") and not INBOX.capture() and not on_main:
        raise ToolError(
            "tools run on the main thread, and it runs no event loop to take their calls",
            "run the turn on the main thread; in a notebook, %load_ext nbstream first",
        )
