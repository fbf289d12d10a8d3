"""Running a tool on the kernel's main thread, asked for from nbstream's loop thread.

User code expects the main thread (signal handlers, matplotlib, `input()`, thread-local state),
and blocking work must never run on the loop thread. The loop puts each call in `INBOX`. While
a cell waits for a turn (`LiveView.tick`, inside `INBOX.waiting_in_cell()`), that cell runs
what is there. Otherwise (a panel's turn, a turn awaited on another thread) the inbox schedules
a drain onto the main thread's event loop, captured by `INBOX.capture()` on the main thread
(ipykernel runs its asyncio loop there, between and during cells): the call runs once no cell
is executing, and waits for the kernel while one is. A KeyboardInterrupt inside a call
propagates on the main thread, which cancels the turn.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class Inbox:
    """Calls waiting for the main thread. `put` from the loop thread, `drain` on the main one."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]]
        self._calls = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards `_home` and `_cells`, read on the loop thread
        self._home: asyncio.AbstractEventLoop | None = None  # the main thread's event loop
        self._cells = 0  # cells on the main thread waiting for a turn, which drain as they wait
        self.in_cell = False  # main thread only: the drain running now is a waiting cell's

    async def run(self, call: Callable[[], T], wake: Callable[[], None]) -> T:
        """Have the main thread run `call` and wait for its result; `wake` tells it to look."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._calls.put((call, future))
        wake()
        self._schedule()
        return await asyncio.wrap_future(future)

    def capture(self) -> bool:
        """On the main thread with a running event loop (a kernel's): remember it, so calls
        can run there when no cell drains. True when a main-thread loop is known."""
        if _on_main_thread():
            with contextlib.suppress(RuntimeError):  # no loop running: a plain script
                home = asyncio.get_running_loop()
                with self._lock:
                    self._home = home
        with self._lock:
            return self._home is not None and not self._home.is_closed()

    @contextlib.contextmanager
    def waiting_in_cell(self) -> Iterator[None]:
        """Around a cell's wait for a turn: on the main thread, that cell drains the calls."""
        counted = _on_main_thread()
        with self._lock:
            self._cells += counted
        try:
            yield
        finally:
            with self._lock:
                self._cells -= counted

    def cell_waits(self) -> bool:
        """True while a cell on the main thread waits for a turn (it takes calls at once)."""
        with self._lock:
            return self._cells > 0

    def _schedule(self) -> None:
        with self._lock:
            home = None if self._cells else self._home
        if home is not None and not home.is_closed():
            # The loop runs callbacks only when no cell executes: until then the call waits.
            home.call_soon_threadsafe(self._drain_scheduled)

    def _drain_scheduled(self) -> None:
        # No cell to stop: an interrupt ends the call's turn only (raised out of a loop
        # callback it would stop the kernel's event loop, and the kernel with it).
        with contextlib.suppress(KeyboardInterrupt):
            self.drain(in_cell=False)

    def waiting(self) -> bool:
        """True when a call waits for the main thread."""
        return not self._calls.empty()

    def drain(self, in_cell: bool = True) -> None:
        """Run every waiting call (on the main thread only: elsewhere this does nothing).
        `in_cell`: a cell waiting for the turn drains, so a call may ask with `input()`."""
        if not _on_main_thread():
            return
        self.in_cell = in_cell
        try:
            self._run_all()
        finally:
            self.in_cell = False

    def _run_all(self) -> None:
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


class _Forward(io.TextIOBase):
    """A text stream whose writes go to a function."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._write(text)
        return len(text)


@contextlib.contextmanager
def printing_to(write: Callable[[str], None] | None) -> Iterator[None]:
    """On the main thread around a call: its prints (stdout and stderr) go to `write`
    (None: where they go anyway, the cell's output)."""
    if write is None:
        yield
        return
    forward = _Forward(write)
    with contextlib.redirect_stdout(forward), contextlib.redirect_stderr(forward):
        yield


#: The kernel's one inbox: every turn's tool calls go through it, in the order they were asked.
INBOX = Inbox()
