"""The reply's text as it arrives, from Python: `nbstream.stream` and `nbstream.astream`.

The turn runs on nbstream's loop thread; its text deltas cross to the caller through a queue,
and closing the iterator (or an interrupt) cancels the turn and closes the connection.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .api import check_prompt, turn_options
from .engine import loop
from .engine.result import ChatResult, Event, TextDelta
from .session import Session, current


class TextStream:
    """An iterator of text deltas; `result` holds the whole reply once it is exhausted.

    Closing it (or leaving a `with` block, or a KeyboardInterrupt) stops the stream and
    closes the connection.
    """

    _END = object()

    def __init__(self, prompt: str, options: dict[str, Any], session: Session | None) -> None:
        check_prompt(prompt)
        self.result: ChatResult | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        coro = (session or current()).achat(prompt, turn_options(options), sink=self._on_event)
        self._job = loop.submit(coro)
        self._job.future.add_done_callback(lambda _: self._queue.put(self._END))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._queue.put(event.text)

    def __iter__(self) -> Iterator[str]:
        try:
            while (item := self._next()) is not self._END:
                yield item
        except BaseException:
            self.close()
            raise
        self.result = self._job.future.result()

    def _next(self) -> Any:
        while True:  # short waits keep a kernel interrupt prompt
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue

    def close(self) -> None:
        """Stop the stream if it still runs."""
        if not self._job.done():
            self._job.cancel()

    def __enter__(self) -> TextStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream(prompt: str, *, session: Session | None = None, **options: Any) -> TextStream:
    """Iterate over the reply's text as it arrives: `for delta in nbstream.stream("Hi"): ...`."""
    return TextStream(prompt, options, session)


class AsyncTextStream:
    """An async iterator of text deltas; `result` holds the whole reply once exhausted."""

    _END = object()

    def __init__(self, prompt: str, options: dict[str, Any], session: Session | None) -> None:
        check_prompt(prompt)
        self.result: ChatResult | None = None
        self._prompt, self._options, self._session = prompt, options, session
        self._job: loop.Job[ChatResult] | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        here = asyncio.get_running_loop()
        deltas: asyncio.Queue[Any] = asyncio.Queue()

        def on_event(event: Event) -> None:
            if isinstance(event, TextDelta):
                here.call_soon_threadsafe(deltas.put_nowait, event.text)

        session = self._session or current()
        coro = session.achat(self._prompt, turn_options(self._options), sink=on_event)
        self._job = job = loop.submit(coro)
        job.future.add_done_callback(
            lambda _: here.call_soon_threadsafe(deltas.put_nowait, self._END)
        )
        try:
            while (item := await deltas.get()) is not self._END:
                yield item
        except BaseException:
            await loop.cancel_async(job)
            raise
        self.result = job.future.result()


def astream(prompt: str, *, session: Session | None = None, **options: Any) -> AsyncTextStream:
    """`async for delta in nbstream.astream("Hi"): ...`; then `.result`."""
    return AsyncTextStream(prompt, options, session)
