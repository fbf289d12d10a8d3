"""Many streams at once: `gather` for a list of prompts, `compare` for one prompt to several
models.

Both run on the data-scale scheduler (`scale.scheduler`), as `nbstream.map` does: paced, with a
failure kept on its item, an interrupt cancelling every stream and closing every connection,
and a rate limit halving the concurrency. A few prompts get a card each (`show.grid`, fed by
the `Board`); more than `GRID_MOST` get the one progress view, whose size does not grow with n.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .engine.loop import Wakeup
from .engine.result import ChatResult, Status
from .scale.jobs import Job
from .scale.pacer import Pacer
from .scale.progress import Progress
from .scale.scheduler import Scheduler
from .session import Session
from .show.grid import ashow_board, comparison_table, show_board, show_table
from .show.progress import ashow_progress, show_progress
from .turn import TurnOptions

#: The most prompts `gather` shows as cards; above it, the progress view.
GRID_MOST = 24


@dataclass
class Item:
    """One stream of the board."""

    title: str
    result: ChatResult = field(default_factory=lambda: ChatResult(status=Status.INCOMPLETE))
    done: bool = False
    error: str | None = None


class Board:
    """The state of all streams, written by the loop thread and read by the main thread."""

    def __init__(self, titles: Sequence[str]) -> None:
        self.items = [Item(title) for title in titles]
        self.started = time.monotonic()
        self.finished: float | None = None
        self.wake = Wakeup()
        self.version = 0

    def update(self, index: int) -> Callable[[ChatResult], None]:
        """The on_update callback of item `index`."""

        def apply(snapshot: ChatResult) -> None:
            self.items[index].result = snapshot
            self.version += 1

        return apply

    def end(self, index: int, result: ChatResult, error: str | None = None) -> None:
        """Item `index` has ended."""
        self.items[index] = replace(self.items[index], result=result, done=True, error=error)
        self.version += 1
        self.wake.set()


class Gathering:
    """One gather: every prompt streamed with `options`, at most `concurrency` at once, live.

    On a thread (not `no_history`) every prompt is sent after the thread's history as it stood,
    and the exchanges are recorded in prompt order once the run ends, an interrupted run's
    finished ones included. `run()` waits for it, `await arun()` lets the caller's loop go on.
    """

    def __init__(
        self, session: Session, prompts: Sequence[str], options: TurnOptions, concurrency: int = 8
    ) -> None:
        self.session, self.prompts, self.options = session, list(prompts), options
        self.concurrency = concurrency

    def run(self, show: bool | None = None) -> list[ChatResult]:
        """Every prompt's result, in prompt order."""
        with self.session.holding(self.options):
            view, work = self._planned()
            try:
                if isinstance(view, Board):
                    return show_board(view, work, show=show)
                return show_progress(view, work, show=show)
            finally:
                self._record()

    async def arun(self, show: bool | None = None) -> list[ChatResult]:
        """`run` for async callers."""
        with self.session.holding(self.options):
            view, work = self._planned()
            try:
                if isinstance(view, Board):
                    return await ashow_board(view, work, show=show)
                return await ashow_progress(view, work, show=show)
            finally:
                # Off the caller's loop, which may be nbstream's, and safe from a second cancel.
                await asyncio.shield(asyncio.to_thread(self._record))

    def _planned(self) -> tuple[Board | Progress, Coroutine[Any, Any, list[ChatResult]]]:
        """What shows the run (a card each, or one progress view) and its work."""
        each = replace(self.options, recorded=False)  # `_record` records them in prompt order
        jobs = [Job(i, _preview(prompt), prompt) for i, prompt in enumerate(self.prompts)]
        pacer = Pacer(self.concurrency)
        if len(jobs) > GRID_MOST:
            progress = Progress(len(jobs))
            self._scheduler = Scheduler(self.session, each, pacer, progress)
            return progress, self._scheduler.run(jobs, {})
        board = Board([str(job.label) for job in jobs])
        self._scheduler = Scheduler(self.session, each, pacer, Progress(len(jobs)), watch=board)
        return board, _timed(board, self._scheduler.run(jobs, {}))

    def _record(self) -> None:
        ended = sorted(self._scheduler.ended.items())
        self.session.record_all(self.options, [(self.prompts[i], r) for i, r in ended])


async def _timed(board: Board, work: Awaitable[list[ChatResult]]) -> list[ChatResult]:
    try:
        return await work
    finally:
        board.finished = time.monotonic()


def compare_turns(
    session: Session,
    prompt: str,
    models: Sequence[str],
    options: TurnOptions,
    *,
    show: bool | None = None,
) -> list[ChatResult]:
    """Send `prompt` to each model at once, side by side, then show a comparison table.

    Unless the turns are one-offs (`no_history`), each model continues the thread in its own
    branch `THREAD@MODEL`, so a follow-up can go on with any of them.
    """
    jobs = []
    for i, model in enumerate(models):
        branch = f"{options.thread}@{model}"
        if not options.no_history:
            session.store.fork(options.thread, branch)
        jobs.append(Job(i, model, prompt, replace(options, model=model, thread=branch)))
    board = Board(list(models))
    scheduler = Scheduler(session, options, Pacer(len(models)), Progress(len(jobs)), watch=board)
    work = _timed(board, scheduler.run(jobs, {}))
    results = show_board(board, work, show=show, columns=len(models))
    show_table(comparison_table(models, results, session.cost), show)
    return results


def _preview(prompt: str, width: int = 60) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= width else line[: width - 1] + "…"
