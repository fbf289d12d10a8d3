"""nbstream's background event loop: where coroutines run, how the main thread waits for
them, and what an interrupt or a cancel does to them."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
import time
from typing import Any

import pytest

from nbstream.engine import loop

from .conftest import HANG, eventually


def test_the_loop_runs_in_one_background_thread_for_every_caller() -> None:
    async def where() -> tuple[str, asyncio.AbstractEventLoop]:
        return threading.current_thread().name, asyncio.get_running_loop()

    first, second = loop.run(where()), loop.run(where())
    assert first == second == ("nbstream-loop", loop.get_loop())
    assert loop.get_loop().is_running()


def test_run_returns_the_coroutines_value_and_raises_what_it_raises() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def broken() -> None:
        raise ValueError("from the loop")

    assert loop.run(answer()) == 42
    with pytest.raises(ValueError, match="from the loop"):
        loop.run(broken())


def test_the_last_tick_sees_the_finished_state() -> None:
    steps: list[int] = []
    seen: list[list[int]] = []

    async def work() -> str:
        for step in range(5):
            steps.append(step)
            await asyncio.sleep(0)
        return "done"

    def tick() -> float | None:
        seen.append(list(steps))
        return None

    assert loop.wait(loop.submit(work()), tick=tick) == "done"
    assert seen[-1] == [0, 1, 2, 3, 4]


def test_ticks_show_progress_while_the_job_runs() -> None:
    submitted = threading.Event()
    release = threading.Event()
    seen: list[str] = []

    async def work() -> None:
        await asyncio.to_thread(submitted.wait, 30)
        seen.append("working")
        job.poke()
        # The job only ends once a tick has seen it working.
        if not await asyncio.to_thread(release.wait, HANG):
            seen.append("never ticked while running")

    def tick() -> float | None:
        if seen == ["working"]:
            seen.append("ticked")
            release.set()
        return None

    changed = loop.Wakeup()
    job = loop.submit(work(), changed)
    submitted.set()
    loop.settle(job, tick=tick)
    assert seen == ["working", "ticked"]
    assert job.changed is changed


def test_a_keyboard_interrupt_in_a_tick_cancels_the_job_then_propagates() -> None:
    events: list[str] = []
    started = threading.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            events.append("cleaned up")

    def tick() -> float:
        if started.is_set():
            raise KeyboardInterrupt
        return 0.01

    job = loop.submit(work())
    # The wait gives the cancelled job CANCEL_GRACE (0.4 s) to clean up, which a busy loop
    # thread may overrun: the grace it asks for is checked, and a longer one is waited.
    asked: list[float] = []
    cancel = job.cancel

    def cancel_patiently(grace: float = loop.CANCEL_GRACE) -> bool:
        asked.append(grace)
        return cancel(grace=HANG)

    job.cancel = cancel_patiently  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        loop.wait(job, tick=tick)
    assert asked == [loop.CANCEL_GRACE]
    assert events == ["cancelled", "cleaned up"]  # both before the interrupt propagated
    assert job.future.cancelled()


def settle_interrupted_at(event_number: int) -> list[str]:
    """Settle a long job on a thread of its own whose `event_number`-th call or return in the
    wait's own code (nbstream's, and the standard library's locks and context managers) raises
    KeyboardInterrupt, as a Ctrl-C may between any two steps; then cancel it, wake it and run
    another job. What happened, as far as it got. Events elsewhere are not counted: a
    finalizer the garbage collector runs meanwhile swallows what is raised in it."""
    happened: list[str] = []

    def counted(name: str) -> bool:
        return "/nbstream/" in name or name.endswith(("/contextlib.py", "/threading.py", __file__))

    deadline = time.monotonic() + HANG

    def interrupted() -> None:
        count = 0

        def trace(frame: Any, event: str, arg: Any) -> Any:
            nonlocal count
            if event in ("call", "return") and counted(frame.f_code.co_filename):
                count += 1
                if count == event_number:
                    raise KeyboardInterrupt  # the trace is unset by this: one interrupt
            return trace

        def tick() -> float:
            if time.monotonic() > deadline:
                raise TimeoutError(f"step {event_number} was never reached")
            return 0.0

        job = loop.submit(asyncio.sleep(3600))
        sys.settrace(trace)
        try:
            loop.settle(job, tick=tick)
        except KeyboardInterrupt:
            happened.append("interrupted")
        finally:
            sys.settrace(None)
        job.cancel()
        job.changed.set()  # a stream's next chunk would
        happened.append(loop.run(asyncio.sleep(0, "the loop goes on")))

    worker = threading.Thread(target=interrupted, daemon=True)
    worker.start()
    worker.join(HANG + 5)
    return happened


def test_an_interrupt_at_any_step_of_the_wait_leaves_no_lock_held() -> None:
    # threading.Event's Condition, taken at the wrong moment, stayed locked: the next set()
    # hung the kernel (an interrupted %%chat never ended).
    for event_number in range(1, 120):
        happened = settle_interrupted_at(event_number)
        assert happened == ["interrupted", "the loop goes on"], event_number


def test_cancel_says_whether_the_task_finished_within_the_grace() -> None:
    stubborn = threading.Event()
    entered = threading.Event()

    async def ignores_cancel() -> None:
        entered.set()
        while not stubborn.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue  # a task that swallows the cancel cannot be waited for

    async def obeys() -> None:
        await asyncio.sleep(3600)

    job = loop.submit(ignores_cancel())
    entered.wait(30)
    assert job.cancel(grace=0.05) is False
    stubborn.set()
    polite = loop.submit(obeys())
    assert polite.cancel(grace=30) is True


def test_wait_async_returns_the_result_and_keeps_the_callers_loop_free() -> None:
    release = threading.Event()

    async def work() -> str:
        released = await asyncio.to_thread(release.wait, HANG)
        return "from nbstream's loop" if released else "the caller's loop was blocked"

    async def beat() -> None:
        # Only the caller's loop can release the job: a blocked caller would never get here.
        for _ in range(3):
            await asyncio.sleep(0)
        release.set()

    async def caller() -> str:
        job = loop.submit(work())
        beating = asyncio.ensure_future(beat())
        result = await loop.wait_async(job, tick=lambda: 0.01)
        await beating
        return result

    assert asyncio.run(caller()) == "from nbstream's loop"


def test_cancelling_the_async_caller_cancels_the_job() -> None:
    events: list[str] = []
    started = threading.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events.append("job cancelled")
            raise

    async def caller() -> loop.Job[None]:
        job = loop.submit(work())
        waiting = asyncio.ensure_future(loop.wait_async(job, tick=lambda: 0.01))
        await asyncio.to_thread(started.wait, HANG)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return job

    job = asyncio.run(caller())
    # The future is cancelled at once and the coroutine's handler runs after that, on the
    # loop thread: what it did is checked once the coroutine itself has ended.
    assert eventually(job.done)
    assert events == ["job cancelled"]


def _answer() -> None:
    async def forty_two() -> int:
        await asyncio.sleep(0)
        return 42

    os._exit(0 if loop.run(forty_two()) == 42 else 1)


def test_a_forked_child_runs_coroutines_on_a_loop_of_its_own() -> None:
    parent = loop.get_loop()  # started here, so the child inherits it without its thread
    child = multiprocessing.get_context("fork").Process(target=_answer)
    child.start()
    child.join(HANG)  # a hang guard: without its own loop the child waits forever
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    assert loop.get_loop() is parent  # the parent's loop is untouched


def test_within_never_loses_a_cancel_landing_at_any_step_of_a_read() -> None:
    async def read() -> str:
        return "chunk"

    async def first_chunk() -> str:
        return await loop.within(read(), 10.0)

    async def cancel_after(steps: int) -> str:
        task = asyncio.ensure_future(first_chunk())
        for _ in range(steps):
            await asyncio.sleep(0)
        if task.done():
            return "read first"
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "cancel lost"  # asyncio.wait_for at steps 1-3 on Python 3.11

    outcomes = [asyncio.run(cancel_after(steps)) for steps in range(8)]
    assert "cancel lost" not in outcomes, outcomes
    assert outcomes[0] == "cancelled" and outcomes[-1] == "read first"


def test_within_times_out_a_read_that_does_not_come() -> None:
    async def never() -> str:
        await asyncio.Event().wait()
        return "never"

    with pytest.raises(TimeoutError):
        asyncio.run(loop.within(never(), 0.01))
