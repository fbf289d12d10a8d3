"""A chat panel's tools: what its turns offer the model, and a cell waiting for its turn.

A panel's turn runs on nbstream's loop thread while no cell runs, so its tool calls are
scheduled onto the kernel's main thread (`tools.mainthread`); a cell blocked in `wait()` holds
that thread, so it runs the calls itself as it waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..engine import loop
from ..tools.mainthread import INBOX


@dataclass(frozen=True)
class PanelTools:
    """The functions a panel's turns offer, how their calls are approved, the round limit."""

    functions: tuple[Any, ...] = ()
    approve: str | None = None  # ask or auto (None: NbStream.approve)
    max_rounds: int | None = None  # None: NbStream.max_tool_rounds

    def options(self) -> dict[str, Any]:
        """The TurnOptions fields of a turn with these tools."""
        return {"tools": self.functions, "approve": self.approve,
                "max_tool_rounds": self.max_rounds}  # fmt: skip


def settle_turn(job: loop.Job[Any], timeout: float | None) -> None:
    """Block until the panel's turn `job` ends, running its tool calls on this (main) thread;
    TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def tick() -> float | None:
        INBOX.drain()
        if deadline is None:
            return None
        if (left := deadline - time.monotonic()) <= 0 and not job.future.done():
            raise TimeoutError(f"the reply is still streaming after {timeout:g} s")
        return left

    with INBOX.waiting_in_cell():
        loop.settle(job, tick=tick)
