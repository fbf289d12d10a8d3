"""Replay: a stored reply played back through the same live display as a real stream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace

from ..engine.result import ChatResult, Finish, Notice, Status, TextDelta, Timings, UsageReport
from ..engine.stream import Sink
from ..settings import ReplayPace
from .cache import Entry


class ReplayStream:
    """A stored reply played back like a live one, with `ChatStream`'s interface.

    The text arrives at once (`pace="instant"`) or spread over the recorded time to first token
    and decode time (`"recorded"`). The result is the stored one, marked `replayed`.
    `clock` (default: the running loop's) and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        entry: Entry,
        pace: ReplayPace = ReplayPace.INSTANT,
        sink: Sink | None = None,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.recorded = replace(entry.result, replayed=True)
        self.pace = pace
        self._clock, self._sleep = clock, sleep
        self.sink: Sink = sink or (lambda event: None)
        self.result: ChatResult | None = None  # set when the replay has ended, however
        self._played = 0  # characters of the recorded text played so far
        self._started = False

    @property
    def has_output(self) -> bool:
        """True once the first piece was played."""
        return self._started

    def snapshot(self) -> ChatResult:
        """The reply so far (or the final result once the replay has ended)."""
        return self.result or self._partial()

    def interrupted(self) -> ChatResult:
        """End the replay as interrupted (unless it already ended) and return its result."""
        if self.result is None:
            self.result = replace(self._partial(), status=Status.INTERRUPTED)
        return self.result

    async def run(self) -> ChatResult:
        """Play the stored reply to the sink; a cancel leaves an INTERRUPTED `result`."""
        recorded = self.recorded
        try:
            for notice in recorded.notices:
                self.sink(Notice(notice))
            clock = self._clock or asyncio.get_running_loop().time
            start = clock()
            for at, piece in self._schedule():
                await self._sleep(max(start + at - clock(), 0.0))
                self._played += len(piece)
                self._started = True
                self.sink(TextDelta(piece))
        except asyncio.CancelledError:
            self.interrupted()
            raise
        self._started = True
        self.sink(UsageReport(recorded.usage))
        if recorded.finish_reason:
            self.sink(Finish(recorded.finish_reason))
        self.result = recorded
        return recorded

    def _schedule(self) -> list[tuple[float, str]]:
        """(seconds from the start, text) for each piece."""
        text, timings = self.recorded.text, self.recorded.timings
        if not text:
            return []
        if self.pace is ReplayPace.INSTANT:
            return [(0.0, text)]
        pieces = re.findall(r"\S+\s*|\s+", text)
        first = timings.first_token or 0.0
        span = max((timings.last_token or first) - first, 0.0)
        steps = max(len(pieces) - 1, 1)
        return [(first + span * i / steps, piece) for i, piece in enumerate(pieces)]

    def _partial(self) -> ChatResult:
        recorded = self.recorded
        usage = recorded.usage
        fraction = self._played / len(recorded.text) if recorded.text else 0.0
        tokens = round(usage.completion_tokens * fraction)
        partial = replace(
            recorded,
            text=recorded.text[: self._played],
            status=Status.INCOMPLETE,
            finish_reason=None,
            refusal=None,
            tool_calls=(),
            usage=replace(
                usage, completion_tokens=tokens, total_tokens=usage.prompt_tokens + tokens
            ),
        )
        if self._started:
            return partial
        return replace(partial, timings=Timings(started_at=recorded.timings.started_at))
