"""The state of a data-scale run as the progress view shows it: counts, tokens, cost, speed.

Written on nbstream's loop thread as items end, read by the main thread to draw; each field is
one assignment, so a reader sees a slightly old but never a torn state.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine.loop import Wakeup
from ..engine.result import ChatResult, Status

#: Replies kept for the view's "last few" list.
LAST = 3


@dataclass
class Progress:
    """Counts of one run; `version` changes with every change, `wake` tells the waiter."""

    total: int
    estimate: str = ""  # the before-start line: tokens and cost expected
    done: int = 0
    failed: int = 0
    resumed: int = 0  # finished in an earlier run: taken from the record, not asked again
    in_flight: int = 0
    concurrency: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    stopped: str | None = None  # why no more items are started (max_cost)
    status_line: str = ""  # a batch's status, or a rate-limit wait
    last: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=LAST))
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0
    finished: float | None = None
    version: int = 0
    wake: Wakeup = field(default_factory=Wakeup)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def end(self, label: str, result: ChatResult, cost: float | None, *, resumed: bool) -> None:
        """An item ended (or came from the record)."""
        if result.status is Status.COMPLETE:
            self.done += 1
        else:
            self.failed += 1
        self.resumed += resumed
        if not resumed:
            self.completion_tokens += result.usage.completion_tokens
            if cost is not None:
                self.cost = (self.cost or 0.0) + cost
        self.last.append((label, result.text if result.text else f"[{result.error or ''}]"))
        self.changed()

    def changed(self) -> None:
        """Something the view shows changed."""
        self.version += 1
        self.wake.set()

    @property
    def ended(self) -> int:
        """Items finished, failed or taken from the record."""
        return self.done + self.failed

    @property
    def wall(self) -> float:
        """Seconds since the start (until the end once it ended)."""
        return (self.finished or self.clock()) - self.started

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens a second over the run so far."""
        wall = self.wall
        return self.completion_tokens / wall if wall > 0 and self.completion_tokens else None

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace of the items asked so far (None before the first)."""
        asked = self.ended - self.resumed
        left = self.total - self.ended
        if asked <= 0 or left <= 0:
            return None if left > 0 else 0.0
        return self.wall / asked * left
