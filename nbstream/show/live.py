"""Drive one turn from the main thread and show it as it streams.

The stream runs on nbstream's loop thread; the main thread wakes at the throttle's pace,
takes a snapshot and hands it to a surface: a notebook display handle or a terminal.
A kernel interrupt lands here, cancels the stream and still leaves a final output.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any, Protocol

from ..engine import loop
from ..engine.foreign import unexpected
from ..engine.result import (
    ChatResult,
    Event,
    Notice,
    ReasoningDelta,
    Retrying,
    Status,
    TextDelta,
)
from ..engine.stream import TurnStream
from ..errors import NbStreamError, StreamError
from .badge import ERROR_MARK
from .rendering import Throttle, bundle, footer, metadata, status_line
from .segments import segment_cut

if TYPE_CHECKING:
    from ..session import Turn

#: Seconds between status-line refreshes while waiting for the first token.
WAITING_REFRESH = 0.5
#: The metadata of an output still changing, until its final update replaces it: a reader of
#: the messages (`nbstream demo`) can tell a status line from a footer.
LIVE_META = {"nbstream_live": True}
#: UTF-8 bytes of reply one notebook output holds before the rest goes on in a new one: each
#: update re-sends its whole output (as Markdown, escaped, and as plain text), Jupyter drops
#: IOPub traffic past 500 KB/s or so, and no message should pass 100 KB.
SEGMENT = 24_000


class Surface(Protocol):
    """Where a turn is shown."""

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        """Show the reply so far with a status line; return the bytes that were sent."""

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Show the final reply with its footer and nbstream's record; called exactly once."""


class NotebookSurface:
    """Display outputs updated in place: Markdown plus plain text, metadata at the end.

    A reply longer than SEGMENT bytes goes on in a new output, cut where `segments` says (a
    block boundary, if it can), so that no update re-sends more than about SEGMENT bytes.
    """

    def __init__(self, *, plain: bool = False, quiet: bool = False) -> None:
        self._handle: Any = None
        self._plain = plain
        self._quiet = quiet
        self._frozen = 0  # characters of reply in finished outputs above the live one
        self._reopen = ""  # Markdown the live output starts with: a code fence, a table header

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        """Update the live output in place (the first call creates it)."""
        sent = self._freeze(result, notices)
        return sent + self._send(self._bundle(result, last_line, notices, live=True), LIVE_META)

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Send the final update, which is what the saved notebook keeps."""
        self._freeze(result, notices)
        footer_line = "" if self._quiet and result.status is Status.COMPLETE else last_line
        self._send(self._bundle(result, footer_line, notices), meta)

    def _bundle(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], *, live: bool = False
    ) -> dict[str, str]:
        tail = replace(result, text=result.text[self._frozen :])
        if self._frozen:  # the reasoning shows once, above the first segment
            tail = replace(tail, reasoning="", usage=replace(tail.usage, reasoning_tokens=None))
        shown = notices if self._frozen == 0 else ()
        reopened = replace(tail, text=self._reopen + tail.text)
        data = bundle(reopened, last_line, shown, plain_only=self._plain, live=live)
        if self._reopen:  # the plain text goes on as it is: the outputs read as one reply
            data["text/plain"] = bundle(tail, last_line, shown, plain_only=True, live=live)[
                "text/plain"
            ]
        return data

    def _freeze(self, result: ChatResult, notices: tuple[str, ...]) -> int:
        sent = 0
        while (cut := segment_cut(result.text, self._frozen, SEGMENT, self._reopen)) is not None:
            done = replace(result, text=result.text[: cut.end], tool_calls=(), refusal=None)
            sent += self._send(self._bundle(done, "", notices), {})
            self._handle, self._frozen, self._reopen = None, cut.end, cut.reopen
        return sent

    def _send(self, data: dict[str, str], metadata: dict[str, Any]) -> int:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(data, raw=True, metadata=metadata, display_id=True)
        else:
            self._handle.update(data, raw=True, metadata=metadata)
        return sum(len(value) for value in data.values())


class TerminalSurface:
    """Plain text: the reply is written as it grows, then the footer on its own line."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self._written = 0
        self._notices = 0

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        """Write the new part of the reply."""
        for notice in notices[self._notices :]:
            self._out.write(f"[{notice}]\n")
        self._notices = len(notices)
        new = result.text[self._written :]
        self._out.write(new)
        self._written = len(result.text)
        self._out.flush()
        return len(new)

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Write the rest of the reply, then the footer."""
        self.show(result, last_line, notices)
        tail = "".join(f"\n[tool call {c.name}({c.arguments})]" for c in result.tool_calls)
        if result.refusal:
            tail += f"\n[refusal: {result.refusal}]"
        self._out.write(f"{tail}\n\n{last_line}\n" if result.text or tail else f"{last_line}\n")
        self._out.flush()


class NullSurface:
    """Shows nothing: for scripts and for callers that only want the result."""

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        """Nothing to show."""
        return 0

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Nothing to show."""


def surface_for(show: bool | None, *, plain: bool = False, quiet: bool = False) -> Surface:
    """The surface for this process: a notebook output in a kernel, text in a terminal.

    `show=None` decides by where the code runs (plain Python scripts stay silent),
    `True` always shows, `False` never does; `plain` and `quiet` are NotebookSurface's.
    """
    if show is False:
        return NullSurface()
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return NotebookSurface(plain=plain, quiet=quiet)
    if shell is not None or show:
        return TerminalSurface()
    return NullSurface()


class _Progress:
    """What the loop thread tells the main thread besides the text: notes and a wake-up."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.note = ""
        self.first_text = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, Retrying):
            self.note = f"{event.reason}, retrying in {event.wait:.0f} s (attempt {event.attempt})"
            self.wake.set()
        elif isinstance(event, Notice):
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
        self._throttle = throttle or Throttle()
        self._clock = clock
        self._started = clock()
        self._shown = -1  # characters of reply text on screen; -1: nothing shown yet

    def tick(self) -> float:
        """Update the surface if the throttle allows; return the seconds until the next tick."""
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
