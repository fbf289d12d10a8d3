"""A chat panel's tools: what its turns offer, the Approve / Deny row of a call, the output
area of the tools' prints, and a cell waiting for a turn.

A panel's turn runs on nbstream's loop thread while no cell runs, so its tool calls are
scheduled onto the kernel's main thread (`tools.mainthread`); a cell blocked in `wait()` holds
that thread, so it runs the calls itself as it waits. Approval cannot block the main thread
(the click arrives there), so the loop thread waits for it: `ask` shows an `ApprovalRow` under
the reply and awaits the click. Names, arguments and results are untrusted text: escaped, or
rendered by `safe_html`.
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any

import ipywidgets as widgets

from ..engine import loop
from ..tools.mainthread import INBOX
from ..tools.turn import FrontEnd
from .markdown import code_block, safe_html
from .panel_view import ReplyView, button, html_widget


class Decision(str, Enum):
    """Where a call shown for approval stands."""

    PENDING = "pending"  # shown with its buttons, no click yet
    APPROVED = "approved"  # Approve was clicked: the call runs
    DENIED = "denied"  # Deny was clicked: the model is told so
    WITHDRAWN = "withdrawn"  # the turn ended (Stop, an error) before a click


class ApprovalRow:
    """One tool call shown under a reply with Approve and Deny; the first click decides.
    Clicks arrive on the kernel's main thread (or a subshell's), `withdraw` on the loop thread:
    `state` changes under `_lock`, and `decided` is told once."""

    def __init__(self, name: str, arguments: str, decided: Callable[[bool], None]) -> None:
        self.state = Decision.PENDING
        self._lock = threading.Lock()
        self._decided = decided
        self._call = f"{html.escape(name)}{safe_html(code_block(arguments or '{}', 'json'))}"
        self.text = html_widget(self._html("run this tool?"), "nbstream-approval-text")
        self.approve = button("Approve", "nbstream-approve", lambda _: self.choose(True), "success")
        self.deny = button("Deny", "nbstream-deny", lambda _: self.choose(False), "danger")
        self.widget = widgets.HBox([self.text, self.approve, self.deny])
        for css_class in ("nbstream-message", "nbstream-approval"):
            self.widget.add_class(css_class)

    def _html(self, question: str) -> str:
        return f"<div>🔧 {html.escape(question)}</div>{self._call}"

    def choose(self, allow: bool) -> None:
        """Approve (True) or Deny (False); ignored once decided."""
        if self._settle(Decision.APPROVED if allow else Decision.DENIED):
            self._decided(allow)

    def withdraw(self) -> None:
        """The turn ended without a click: the buttons go, the call was never run."""
        self._settle(Decision.WITHDRAWN)

    def _settle(self, decision: Decision) -> bool:
        with self._lock:
            if self.state is not Decision.PENDING:
                return False
            self.state = decision
        self.approve.disabled = self.deny.disabled = True
        self.text.value = self._html(decision.value)
        return True


async def ask(view: ReplyView, name: str, arguments: str) -> bool:
    """On the loop thread: show the call under the reply and wait for Approve or Deny."""
    here = asyncio.get_running_loop()
    answer: asyncio.Future[bool] = here.create_future()

    def decided(allow: bool) -> None:
        here.call_soon_threadsafe(_answer, answer, allow)

    row = ApprovalRow(name, arguments, decided)
    view.attach(row.widget)
    try:
        return await answer
    finally:
        row.withdraw()


def _answer(answer: asyncio.Future[bool], allow: bool) -> None:
    if not answer.done():  # the turn was stopped meanwhile
        answer.set_result(allow)


@dataclass(frozen=True)
class PanelTools:
    """The functions a panel's turns offer, how their calls are approved, the round limit."""

    functions: tuple[Any, ...] = ()
    approve: str | None = None  # ask or auto (None: NbStream.approve)
    max_rounds: int | None = None  # None: NbStream.max_tool_rounds

    def options(self, view: ReplyView) -> dict[str, Any]:
        """The TurnOptions fields of a turn shown in `view`: calls are approved under it, and
        the tools' prints show under it."""
        front = FrontEnd(partial(ask, view), ToolPrints(view))
        return {"tools": self.functions, "approve": self.approve,
                "max_tool_rounds": self.max_rounds, "tool_front": front}  # fmt: skip


class ToolPrints:
    """A reply's output area for its tools' prints, shown under it at the first print.
    Called on the kernel's main thread, where the tools run."""

    def __init__(self, view: ReplyView) -> None:
        self._view = view
        self._output: widgets.Output | None = None

    def __call__(self, text: str) -> None:
        if self._output is None:
            self._output = widgets.Output()
            self._output.add_class("nbstream-tool-prints")
            self._view.attach(self._output)
        self._output.append_stdout(text)


def settle_turn(job: loop.Job[Any], timeout: float | None) -> None:
    """Block until the panel's turn `job` ends, running its tool calls on this (main) thread;
    TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def tick() -> float | None:
        INBOX.drain()
        if deadline is None:
            return None
        if (left := deadline - time.monotonic()) <= 0 and not job.done():
            raise TimeoutError(f"the reply is still streaming after {timeout:g} s")
        return left

    with INBOX.waiting_in_cell():
        loop.settle(job, tick=tick)
