"""Tool calls asked for from the loop thread run on the main thread, in order; an error goes
back to the asking turn, and a KeyboardInterrupt cancels it and stops the cell."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nbstream.tools.mainthread import Inbox


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop on its own thread, as nbstream's is beside the kernel's main thread."""
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join()
    running.close()


def ask(
    inbox: Inbox, loop: asyncio.AbstractEventLoop, call: Callable[[], Any]
) -> concurrent.futures.Future[Any]:
    """Ask from the loop thread for `call`; returns once it waits in the inbox."""
    woken = threading.Event()
    asked = asyncio.run_coroutine_threadsafe(inbox.run(call, woken.set), loop)
    assert woken.wait(30)
    return asked


async def settle() -> None:
    """Let the loop pass a cancellation on to the waiting call (a few steps, no clock)."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_calls_run_on_the_main_thread_in_the_order_asked(loop) -> None:
    inbox, ran = Inbox(), []

    def call(name: str) -> Callable[[], str]:
        return lambda: ran.append((name, threading.current_thread().name)) or name

    first, second = ask(inbox, loop, call("first")), ask(inbox, loop, call("second"))
    assert inbox.waiting()
    inbox.drain()
    assert not inbox.waiting()
    assert (first.result(30), second.result(30)) == ("first", "second")
    assert ran == [("first", "MainThread"), ("second", "MainThread")]


def test_draining_off_the_main_thread_runs_nothing(loop) -> None:
    inbox, ran = Inbox(), []
    asked = ask(inbox, loop, lambda: ran.append("ran"))
    elsewhere = threading.Thread(target=inbox.drain)
    elsewhere.start()
    elsewhere.join()
    assert ran == [] and inbox.waiting()
    inbox.drain()
    asked.result(30)
    assert ran == ["ran"]


def test_an_error_in_the_call_is_raised_in_the_asking_turn(loop) -> None:
    inbox = Inbox()

    def fails() -> None:
        raise LookupError("no station in Paris")

    asked = ask(inbox, loop, fails)
    inbox.drain()
    with pytest.raises(LookupError, match="no station in Paris"):
        asked.result(30)


def test_an_interrupt_in_the_call_cancels_the_turn_and_stops_the_cell(loop) -> None:
    inbox = Inbox()

    def interrupted() -> None:
        raise KeyboardInterrupt

    asked, after = ask(inbox, loop, interrupted), ask(inbox, loop, lambda: "after")
    with pytest.raises(KeyboardInterrupt):
        inbox.drain()
    with pytest.raises(concurrent.futures.CancelledError):
        asked.result(30)
    assert inbox.waiting()  # the next call waits for the next drain
    inbox.drain()
    assert after.result(30) == "after"


def test_a_call_whose_turn_was_cancelled_is_skipped(loop) -> None:
    inbox, ran = Inbox(), []
    asked = ask(inbox, loop, lambda: ran.append("ran"))
    asked.cancel()
    asyncio.run_coroutine_threadsafe(settle(), loop).result(30)
    inbox.drain()
    assert ran == [] and not inbox.waiting()


def test_with_no_cell_waiting_calls_run_on_the_main_threads_event_loop(loop) -> None:
    inbox = Inbox()

    async def main() -> str:
        assert inbox.capture()
        asked = asyncio.run_coroutine_threadsafe(
            inbox.run(lambda: threading.current_thread().name, lambda: None), loop
        )
        return await asyncio.wrap_future(asked)  # nothing drains but the loop's own callback

    assert asyncio.run(main()) == "MainThread"


def test_a_cell_waiting_for_its_turn_takes_the_calls_not_the_event_loop(loop) -> None:
    inbox = Inbox()

    async def main() -> tuple[bool, str]:
        inbox.capture()
        with inbox.waiting_in_cell():
            asked = ask(inbox, loop, lambda: "ran")
            for _ in range(10):
                await asyncio.sleep(0)  # the event loop runs its callbacks: none was scheduled
            left = inbox.waiting()
            inbox.drain()
        return left, asked.result(30)

    assert asyncio.run(main()) == (True, "ran")


def test_a_plain_script_has_no_event_loop_to_schedule_calls_onto() -> None:
    inbox = Inbox()
    assert not inbox.capture()  # no loop runs on the main thread

    async def main() -> bool:
        return inbox.capture()

    assert asyncio.run(main())
    assert not inbox.capture()  # the loop captured then is closed now
