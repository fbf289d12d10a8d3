"""Running a tool on the kernel's main thread, asked for from nbstream's loop thread.

User code expects the main thread (signal handlers, matplotlib, `input()`, thread-local state),
and blocking work must never run on the loop thread. The loop puts each call in `INBOX`; the
main thread, which waits for the turn in short slices (`LiveView.tick`), runs what is there.
A KeyboardInterrupt inside a call propagates on the main thread, which cancels the turn.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Inbox:
    """Calls waiting for the main thread. `put` from the loop thread, `drain` on the main one."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]]
        self._calls = queue.SimpleQueue()

    async def run(self, call: Callable[[], T], wake: Callable[[], None]) -> T:
        """Have the main thread run `call` and wait for its result; `wake` tells it to look."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._calls.put((call, future))
        wake()
        return await asyncio.wrap_future(future)

    def waiting(self) -> bool:
        """True when a call waits for the main thread."""
        return not self._calls.empty()

    def drain(self) -> None:
        """Run every waiting call (on the main thread only: elsewhere this does nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return
        while True:
            try:
                call, future = self._calls.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue  # the turn was cancelled while the call waited
            try:
                future.set_result(call())
            except Exception as err:
                future.set_exception(err)
            except BaseException:
                # KeyboardInterrupt: the waiting turn is cancelled (raised inside the loop's
                # task it would stop the loop itself), and the cell stops here.
                future.set_exception(asyncio.CancelledError())
                raise


#: The kernel's one inbox: every turn's tool calls go through it, in the order they were asked.
INBOX = Inbox()
