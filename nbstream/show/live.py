"""Drive one turn from the main thread and show it as it streams.

The stream runs on nbstream's loop thread; the main thread wakes at the throttle's pace,
takes a snapshot and hands it to a surface: a notebook display handle or a terminal.
A kernel interrupt lands here, cancels the stream and still leaves a final output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..engine import loop
from ..engine.foreign import unexpected
from ..engine.result import (
    ChatResult,
    Event,
    Notice,
    ReasoningDelta,
    Retrying,
    TextDelta,
)
from ..engine.stream import TurnStream
from ..engine.toolrounds import ToolActivity
from ..errors import NbStreamError, StreamError
from ..tools.mainthread import INBOX
from .badge import ERROR_MARK
from .rendering import Throttle, footer, metadata, status_line
from .surfaces import Surface

if TYPE_CHECKING:
    from ..turn import Turn

#: Seconds between status-line refreshes while waiting for the first token.
WAITING_REFRESH = 0.5
#: The live output's updates: ten a second while an update is under `free` bytes (a short
#: reply, or the start of a segment), then further apart as it grows, at `byte_budget` a
#: second: each update re-sends the whole output.
LIVE_PACE = Throttle(max_rate=10.0, byte_budget=10_000.0, free=3_000)


class _Progress:
    """What the loop thread tells the main thread besides the text: notes and a wake-up."""

    def __init__(self) -> None:
        self.wake = loop.Wakeup()
        self.note = ""
        self.first_text = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, Retrying):
            self.note = f"{event.reason}, retrying in {event.wait:.0f} s (attempt {event.attempt})"
            self.wake.set()
        elif isinstance(event, (Notice, ToolActivity)):
            self.wake.set()
        elif isinstance(event, (TextDelta, ReasoningDelta)) and not self.first_text:
            # Only the first delta wakes the main thread: later ones wait for the throttle.
            self.first_text = True
            self.note = ""
            self.wake.set()


class LiveView:
    """Shows one turn on a surface at the throttle's pace: `tick()` while it runs, `end()` once.

    `snapshot` returns the reply so far; `progress` is the sink that tells of retries and of
    the first token, and wakes the waiting thread; `clock` is injectable for tests.
    """

    def __init__(
        self,
        surface: Surface,
        snapshot: Callable[[], ChatResult],
        *,
        thread: str = "",
        cost: Callable[[ChatResult], float | None] = lambda result: None,
        meta: Callable[[ChatResult], dict[str, Any]] = lambda result: {},
        throttle: Throttle | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.surface, self.snapshot = surface, snapshot
        self.progress = _Progress()
        self._thread, self._cost, self._meta = thread, cost, meta
        self._throttle = throttle or replace(LIVE_PACE)
        self._clock = clock
        self._started = clock()
        self._shown = -1  # characters of reply text on screen; -1: nothing shown yet

    def tick(self) -> float:
        """Update the surface if the throttle allows; return the seconds until the next tick.
        Runs the tool calls that wait for the main thread (this is it), shown first: approval
        asks about the call on screen."""
        if INBOX.waiting():
            self._show(self.snapshot(), self._clock(), self._shown)
            INBOX.drain()
        now = self._clock()
        snapshot = self.snapshot()
        if snapshot.timings.first_token is None:
            if self._shown < 0 or self._throttle.wait(now) == 0:
                self._show(snapshot, now, 0)
            return WAITING_REFRESH
        # Reasoning grows the output too (hidden reasoning only its count).
        size = len(snapshot.text) + len(snapshot.reasoning) + (snapshot.usage.reasoning_tokens or 0)
        # The first text goes out at once: it must be visible within 50 ms of arriving.
        delay = 0.0 if self._shown <= 0 else self._throttle.wait(now)
        if delay == 0.0 and size != self._shown:
            self._show(snapshot, now, size)
            delay = self._throttle.wait(now)
        return delay

    def _show(self, snapshot: ChatResult, now: float, size: int) -> None:
        line = status_line(snapshot, now - self._started, self.progress.note)
        sent = self.surface.show(snapshot, line, snapshot.notices)
        self._throttle.sent(now, sent)
        self._shown = size

    def end(self, result: ChatResult, error: NbStreamError | None = None) -> None:
        """The final update: the reply with its footer, or the error that ended it."""
        if error is not None and not isinstance(error, StreamError):
            self.surface.finish(
                result, f"{ERROR_MARK}failed", result.notices, {}
            )  # the error says why
            return
        cost = self._cost(result) if error is None else None
        priced = cost is not None or error is not None  # a failed turn is not priced at all
        last_line = footer(result, thread=self._thread, cost=cost, priced=priced)
        self.surface.finish(result, last_line, result.notices, self._meta(result))


def driver(
    surface: Surface, *, cost: Callable[[ChatResult], float | None] = lambda result: None
) -> Callable[[Turn], ChatResult]:
    """What `Session.chat` calls to run a turn: stream it on the loop, show it on `surface`."""

    def drive(turn: Turn) -> ChatResult:
        def meta(result: ChatResult) -> dict[str, Any]:
            return metadata(result, thread=turn.thread, turn_id=turn.turn_id)

        return stream_to(turn.stream, surface, thread=turn.thread, cost=cost, meta=meta)

    return drive


def stream_to(
    stream: TurnStream,
    surface: Surface,
    *,
    thread: str = "",
    cost: Callable[[ChatResult], float | None] = lambda result: None,
    meta: Callable[[ChatResult], dict[str, Any]] = lambda result: {},
) -> ChatResult:
    """Run a turn on the loop thread and show it on `surface` until it ends.

    Returns the result (complete or incomplete). Raises what the engine raises (any other
    exception as an nbstream error), after a final update; a KeyboardInterrupt propagates after
    the partial reply is shown as interrupted.
    """
    view = LiveView(surface, stream.snapshot, thread=thread, cost=cost, meta=meta)
    stream.sink = view.progress
    job = loop.submit(stream.run(), view.progress.wake)
    try:
        with INBOX.waiting_in_cell():
            result = loop.wait(job, tick=view.tick)
    except KeyboardInterrupt:
        view.end(stream.interrupted())
        raise
    except StreamError as err:
        view.end(err.result, err)
        raise
    except NbStreamError as err:
        view.end(stream.snapshot(), err)
        raise
    except Exception as err:  # not ours (the SDK's, a bug): the output must not stay waiting
        mapped = unexpected(err)
        view.end(stream.snapshot(), mapped)
        raise mapped from err
    view.end(result)
    return result
