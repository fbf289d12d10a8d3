"""Runs the items of a data-scale run on nbstream's loop: paced, recorded, in input order.

Each item is a one-off turn through `Session.achat`. The `Pacer` says how many run at once and
when the next may start; rate limits seen by the engine (its retries' events) and the
`x-ratelimit-*` headers of every response reach it as they happen. An item still rate limited
after the engine's retries goes back to the front of the queue (at most `MAX_ROUNDS` times),
so a 429 storm loses nothing. Each finished item is written to the run record as it finishes,
so an interrupt or a crash keeps it; cancelling the run cancels every request in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..engine.failures import backoff
from ..engine.result import ChatResult, Event, Retrying, Status
from ..engine.stream import ChatStream
from ..errors import NbStreamError, RateLimitError, StreamError
from ..session import Session
from ..store.runs import RunRecord
from ..turn import Turn, TurnOptions
from .jobs import Job
from .pacer import Pacer
from .progress import Progress

#: Times an item goes back to the queue after the engine's own retries met rate limits.
MAX_ROUNDS = 8


class Watch(Protocol):
    """Per-item updates, for a view that shows each item (the grid of a small gather)."""

    def update(self, index: int) -> Callable[[ChatResult], None]:
        """The snapshot callback of item `index`."""

    def end(self, index: int, result: ChatResult, error: str | None = None) -> None:
        """Item `index` ended."""


@dataclass(frozen=True)
class Plan:
    """What a run needs besides its items: where to record, what to expect, where to stop."""

    keys: Sequence[str] | None = None  # each item's request key; None: nothing is recorded
    record: RunRecord | None = None
    tokens_each: int = 0  # prompt + completion tokens expected of one item
    cost_each: float | None = None  # dollars expected of one item, at most
    max_cost: float | None = None
    price_factor: float = 1.0


class Scheduler:
    """One run over `jobs`; `run()` on nbstream's loop."""

    def __init__(
        self,
        session: Session,
        options: TurnOptions,
        pacer: Pacer,
        progress: Progress,
        plan: Plan = Plan(),
        watch: Watch | None = None,
    ) -> None:
        self.session, self.options, self.pacer = session, options, pacer
        self.progress, self.plan, self.watch = progress, plan, watch
        self._rounds: dict[int, int] = {}
        self.ended: dict[int, ChatResult] = {}  # by position: what ended, even if the run did not

    async def run(self, jobs: Sequence[Job], earlier: Mapping[int, ChatResult]) -> list[ChatResult]:
        """Every job's result in input order; `earlier` results (from the record) are kept."""
        results = self.ended
        for job in jobs:
            if job.position in earlier:
                results[job.position] = earlier[job.position]
                self._ended(job, earlier[job.position], resumed=True)
        pending = deque(job for job in jobs if job.position not in earlier)
        active: dict[asyncio.Future[ChatResult | None], Job] = {}
        try:
            while pending or active:
                delay = self._start_ready(pending, active, results)
                await self._collect(active, pending, results, delay)
        finally:
            await _cancel_all(active)
            self.progress.finished = time.monotonic()
            self.progress.changed()
        return [results[job.position] for job in jobs]

    def _start_ready(
        self,
        pending: deque[Job],
        active: dict[asyncio.Future[ChatResult | None], Job],
        results: dict[int, ChatResult],
    ) -> float | None:
        """Start what the pacer allows; the seconds until another may start (None: on news)."""
        while pending and len(active) < self.pacer.allowed:
            if self._would_cross(started=len(active)):
                self._stop(pending, results)
                return None
            delay = self.pacer.delay(self.plan.tokens_each)
            if delay > 0:
                return delay
            job = pending.popleft()
            active[asyncio.ensure_future(self._one(job))] = job
        self.progress.concurrency = self.pacer.allowed
        return None

    async def _collect(
        self,
        active: dict[asyncio.Future[ChatResult | None], Job],
        pending: deque[Job],
        results: dict[int, ChatResult],
        delay: float | None,
    ) -> None:
        if not active:
            await asyncio.sleep(delay or 0)
            return
        done, _ = await asyncio.wait(active, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            job = active.pop(task)
            result = task.result()
            if result is None:
                pending.appendleft(job)  # rate limited: again, before the others
            else:
                results[job.position] = result

    def _would_cross(self, started: int) -> bool:
        # `started` counts the items begun and not yet ended, including those started in this
        # very pass, which have not run a step yet (so `progress.in_flight` does not see them).
        plan, progress = self.plan, self.progress
        if plan.max_cost is None or plan.cost_each is None:
            return False
        committed = (progress.cost or 0.0) + (started + 1) * plan.cost_each
        return committed > plan.max_cost

    def _stop(self, pending: deque[Job], results: dict[int, ChatResult]) -> None:
        reason = f"stopped before crossing max_cost ${self.plan.max_cost:g}"
        self.progress.stopped = reason
        while pending:
            job = pending.popleft()
            result = ChatResult(status=Status.FAILED, error=f"not sent: {reason}")
            results[job.position] = result
            self._ended(job, result, resumed=False)

    async def _one(self, job: Job) -> ChatResult | None:
        """Run one item; None when it is to be queued again after rate limits."""
        epoch = self.pacer.started(self.plan.tokens_each)
        self.progress.in_flight += 1
        try:
            result = await self._ask(job, epoch)
        finally:
            self.progress.in_flight -= 1
        if result is None:
            return None
        # The request's own time, from its last send: the client's work before and after it
        # (the store, threads queueing for the executor) says nothing of the server's queue.
        if result.status is Status.COMPLETE:
            self.pacer.finished(epoch, result.timings.total, result.usage.completion_tokens)
        await self._keep(job, result)
        return result

    async def _ask(self, job: Job, epoch: int) -> ChatResult | None:
        update = self.watch.update(job.position) if self.watch is not None else None
        options = job.options or self.options
        try:
            return await self.session.achat(
                job.prompt, options, on_update=update, sink=self._sink(epoch), on_start=self._listen
            )
        except RateLimitError as err:
            rounds = self._rounds.get(job.position, 0)
            if err.too_long or rounds >= MAX_ROUNDS:
                return _failed(err.message, options)
            self._rounds[job.position] = rounds + 1
            self.pacer.rate_limited(backoff(rounds), epoch)
            return None
        except StreamError as err:
            return err.result
        except NbStreamError as err:
            return _failed(err.message, options)

    async def _keep(self, job: Job, result: ChatResult) -> None:
        if result.status is Status.COMPLETE:
            self.progress.status_line = ""  # replies come again: the rate-limit note is over
        self._ended(job, result, resumed=False)
        plan = self.plan
        if plan.record is not None and plan.keys is not None and result.status is Status.COMPLETE:
            # Blocking I/O stays off the loop, where the other items stream.
            await asyncio.to_thread(plan.record.put, plan.keys[job.position], result)

    def _ended(self, job: Job, result: ChatResult, *, resumed: bool) -> None:
        cost = None if resumed else self.session.cost(result)
        cost = cost * self.plan.price_factor if cost is not None else None
        self.progress.end(str(job.label), result, cost, resumed=resumed)
        if self.watch is not None:
            error = result.error if result.status is Status.FAILED else None
            self.watch.end(job.position, result, error)

    def _sink(self, epoch: int) -> Callable[[Event], None]:
        """The events of an item started in `epoch`: its rate limits reach the pacer."""

        def seen(event: Event) -> None:
            if isinstance(event, Retrying) and event.reason == "rate limited":
                self.pacer.rate_limited(event.wait, epoch)
                self.progress.status_line = f"rate limited, retrying in {event.wait:.1f} s"
                self.progress.changed()

        return seen

    def _listen(self, turn: Turn) -> None:
        if isinstance(turn.stream, ChatStream):
            turn.stream.on_headers = self._headers

    def _headers(self, headers: Mapping[str, str]) -> None:
        self.pacer.headers(headers, self.progress.in_flight)


def _failed(message: str, options: TurnOptions) -> ChatResult:
    return ChatResult(status=Status.FAILED, error=message, model=options.model or "")


async def _cancel_all(active: dict[asyncio.Future[ChatResult | None], Job]) -> None:
    """Cancel what is still in flight and wait for each to close its connection."""
    for task in active:
        task.cancel()
    if active:
        await asyncio.gather(*active, return_exceptions=True)
