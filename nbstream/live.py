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
from typing import IO, Any, Protocol

from . import loop
from .engine import ChatStream
from .errors import NbStreamError, StreamError
from .rendering import Throttle, bundle, footer, status_line
from .result import ChatResult, Event, Notice, Retrying, Status, TextDelta

#: Seconds between status-line refreshes while waiting for the first token.
WAITING_REFRESH = 0.5


class Surface(Protocol):
    """Where a turn is shown."""

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> None:
        """Show the reply so far with a status line."""

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Show the final reply with its footer and nbstream's record; called exactly once."""


class NotebookSurface:
    """One display output, updated in place: Markdown plus plain text, metadata at the end."""

    def __init__(self, *, plain: bool = False, quiet: bool = False) -> None:
        self._handle: Any = None
        self._plain = plain
        self._quiet = quiet

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> None:
        """Update the output in place (the first call creates it)."""
        self._send(bundle(result, last_line, notices, plain_only=self._plain), {})

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Send the final update, which is what the saved notebook keeps."""
        footer_line = "" if self._quiet and result.status is Status.COMPLETE else last_line
        self._send(bundle(result, footer_line, notices, plain_only=self._plain), meta)

    def _send(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(data, raw=True, metadata=metadata, display_id=True)
        else:
            self._handle.update(data, raw=True, metadata=metadata)


class TerminalSurface:
    """Plain text: the reply is written as it grows, then the footer on its own line."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self._written = 0
        self._notices = 0

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> None:
        """Write the new part of the reply."""
        for notice in notices[self._notices :]:
            self._out.write(f"[{notice}]\n")
        self._notices = len(notices)
        self._out.write(result.text[self._written :])
        self._written = len(result.text)
        self._out.flush()

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
        elif isinstance(event, TextDelta) and not self.first_text:
            # Only the first delta wakes the main thread: later ones wait for the throttle.
            self.first_text = True
            self.note = ""
            self.wake.set()


def stream_to(
    stream: ChatStream,
    surface: Surface,
    *,
    thread: str = "",
    cost: Callable[[ChatResult], float | None] = lambda result: None,
    meta: Callable[[ChatResult], dict[str, Any]] = lambda result: {},
    throttle: Throttle | None = None,
) -> ChatResult:
    """Run a turn on the loop thread and show it on `surface` until it ends.

    Returns the result (complete or incomplete). Raises what the engine raises, after a final
    update; a KeyboardInterrupt propagates after the partial reply is shown as interrupted.
    """
    progress = _Progress()
    stream.sink = progress
    throttle = throttle or Throttle()
    clock = time.monotonic
    started = clock()
    shown_text = [-1]

    def tick() -> float | None:
        now = clock()
        snapshot = stream.snapshot()
        notices = snapshot.notices
        if snapshot.timings.first_token is None:
            if shown_text[0] < 0 or throttle.wait(now, 0) == 0:
                surface.show(snapshot, status_line(snapshot, now - started, progress.note), notices)
                throttle.sent(now, 0)
                shown_text[0] = 0
            return WAITING_REFRESH
        size = len(snapshot.text)
        delay = 0.0 if shown_text[0] <= 0 else throttle.wait(now, size)
        if delay == 0.0 and size != shown_text[0]:
            surface.show(snapshot, status_line(snapshot, now - started, progress.note), notices)
            throttle.sent(now, size)
            shown_text[0] = size
            delay = throttle.wait(now, size)
        return delay

    job = loop.submit(stream.run(), progress.wake)
    try:
        result = loop.wait(job, tick=tick)
    except KeyboardInterrupt:
        final = stream.interrupted()
        surface.finish(final, footer(final, thread=thread), final.notices, meta(final))
        raise
    except StreamError as err:
        surface.finish(
            err.result, footer(err.result, thread=thread), err.result.notices, meta(err.result)
        )
        raise
    except NbStreamError as err:
        final = stream.snapshot()
        surface.finish(final, f"✖ {err.message}", final.notices, {})
        raise
    last_line = footer(result, thread=thread, cost=cost(result))
    surface.finish(result, last_line, result.notices, meta(result))
    return result
