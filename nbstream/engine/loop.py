"""nbstream's own asyncio event loop, in one daemon thread.

Why: the kernel's loop is busy running the cell, nest_asyncio breaks Run All in ipykernel 7,
and a kernel interrupt only reaches the main thread. So streams run here, and the main thread
waits in short, interruptible slices and cancels the task when interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: How long an interrupted caller waits for the cancelled task to close its connection.
CANCEL_GRACE = 0.4

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_parents: list[asyncio.AbstractEventLoop] = []  # kept so that no new loop reuses their id


def _forget_after_fork() -> None:
    # A forked child (multiprocessing's "fork", a test runner's fork server) has no loop
    # thread: the parent's loop would take work that nothing runs. The child starts its own;
    # the lock may have been held by a thread that does not exist here.
    global _lock, _loop, _thread
    if _loop is not None:
        _parents.append(_loop)
    _lock, _loop, _thread = threading.Lock(), None, None


os.register_at_fork(after_in_child=_forget_after_fork)


def on_loop_thread() -> bool:
    """Whether the caller runs on nbstream's loop thread (where nothing may block)."""
    return threading.current_thread() is _thread


def get_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            ready = threading.Event()
            loop = asyncio.new_event_loop()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=serve, name="nbstream-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


class Wakeup:
    """A flag that other threads raise and the main thread waits on, as `threading.Event`,
    but safe from Ctrl-C. An Event's Condition is Python code: a KeyboardInterrupt landing
    just after it takes its lock leaves the lock held for good, and the next `set()` from
    another thread hangs there (an interrupted `%%chat` once never ended that way). A
    SimpleQueue is C, with no lock an interrupt can strand."""

    def __init__(self) -> None:
        self._raised: queue.SimpleQueue[None] = queue.SimpleQueue()

    def set(self) -> None:
        """Raise the flag (from any thread)."""
        if self._raised.empty():  # two setters at once may both add one: harmless
            self._raised.put(None)

    def is_set(self) -> bool:
        """Whether the flag is raised."""
        return not self._raised.empty()

    def clear(self) -> None:
        """Lower the flag."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._raised.get_nowait()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the flag; True if it is raised (it stays raised)."""
        try:
            self._raised.get(timeout=timeout)
        except queue.Empty:
            return False
        self._raised.put(None)
        return True


class Job(Generic[T]):
    """A coroutine running on the background loop.

    `changed` is raised whenever the job finishes or a producer calls `poke()`, so a waiting
    thread wakes at once instead of polling. The waiting (main) thread touches only
    `Wakeup`s: the future's own lock is taken on the loop thread, out of an interrupt's reach.
    """

    def __init__(self, coro: Coroutine[Any, Any, T], changed: Wakeup | None = None) -> None:
        self.changed = changed or Wakeup()
        self._finished = Wakeup()
        self._loop = get_loop()
        self.future = asyncio.run_coroutine_threadsafe(self._tracked(coro), self._loop)
        self.future.add_done_callback(lambda _: self.changed.set())

    async def _tracked(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await coro
        finally:
            self._finished.set()

    def done(self) -> bool:
        """Whether the coroutine has ended (its result may still be on its way)."""
        return self._finished.is_set()

    def poke(self) -> None:
        """Wake the waiting thread (called from the loop thread when there is news)."""
        self.changed.set()

    def cancel(self, grace: float = CANCEL_GRACE) -> bool:
        """Cancel the task and wait up to `grace` s for it to finish; True if it did."""
        self._loop.call_soon_threadsafe(self.future.cancel)
        return self._finished.wait(grace)


def submit(coro: Coroutine[Any, Any, T], changed: Wakeup | None = None) -> Job[T]:
    """Start `coro` on the background loop; `changed` is the event its producers set."""
    return Job(coro, changed)


def settle(job: Job[Any], *, tick: Callable[[], float | None] | None = None) -> None:
    """Block until `job` is done, calling `tick` whenever it changes or its delay runs out.

    `tick` returns the seconds until it wants to be called again (None: only on change).
    Waits are short slices, so a KeyboardInterrupt lands at once: the task is then
    cancelled and given CANCEL_GRACE seconds to close its connection before it propagates.
    This is the one place the main thread waits for the loop.
    """
    try:
        while not job.done():
            job.changed.clear()
            delay = tick() if tick else None
            job.changed.wait(0.25 if delay is None else max(0.0, min(delay, 0.25)))
        if tick:
            tick()
    except KeyboardInterrupt:
        job.cancel()
        raise


def wait(job: Job[T], *, tick: Callable[[], float | None] | None = None) -> T:
    """`settle` the job, then return its result (or raise what it raised)."""
    settle(job, tick=tick)
    return job.future.result()


async def wait_async(job: Job[T], *, tick: Callable[[], float]) -> T:
    """`wait` for async callers: the caller's event loop stays free meanwhile, and an
    interrupt or a cancel of the caller cancels the job.

    A cancelled caller resumes once the job has ended, as an asyncio task does after its
    cleanup: what the job keeps of a partial reply is recorded by then (a second cancel
    stops the wait). An interrupt waits CANCEL_GRACE at most, as `settle` does.
    """
    done = asyncio.wrap_future(job.future)
    try:
        while not done.done():
            await asyncio.wait([done], timeout=min(tick(), 0.25))
        return done.result()
    except KeyboardInterrupt:
        job.cancel()
        raise
    except BaseException:
        await cancel_async(job)
        raise


async def cancel_async(job: Job[Any]) -> None:
    """Cancel the job (if it still runs) and wait until it has ended, leaving the caller's
    event loop free meanwhile; a second cancel of the caller stops the wait."""
    if not job.future.done():
        job.cancel(grace=0.0)
    while not job.done():
        await asyncio.sleep(0.01)


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """`await awaitable`, or TimeoutError after `seconds`; a cancel is never lost.

    Not `asyncio.wait_for`: up to Python 3.11 it returns the result, and drops the cancel,
    when the cancel lands as the awaited read completes (a Stop pressed around the first token
    then did nothing, about 1 in 80). `asyncio.timeout` cancels the task itself instead.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)  # 3.10 has no other; the race remains


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, on nbstream's loop thread.

    The safe replacement for `nest_asyncio.apply(); asyncio.run(coro)` in a notebook:
    queued cells still run afterwards, and a kernel interrupt cancels the coroutine.
    """
    return wait(submit(coro))
