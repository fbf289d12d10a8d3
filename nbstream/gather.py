"""Many streams at once: `gather` for a list of prompts, `compare` for one prompt to several
models.

Both run on the data-scale scheduler (`scale.scheduler`), as `nbstream.map` does: paced, with a
failure kept on its item, an interrupt cancelling every stream and closing every connection,
and a rate limit halving the concurrency. A few prompts get a card each (`show.grid`, fed by
the `Board`); more than `GRID_MOST` get the one progress view, whose size does not grow with n.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

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
        self.wake = threading.Event()
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


async def _on_board(
    session: Session, board: Board, jobs: Sequence[Job], options: TurnOptions, concurrency: int
) -> list[ChatResult]:
    """Run `jobs` on the scheduler, each item drawn on `board`."""
    scheduler = Scheduler(session, options, Pacer(concurrency), Progress(len(jobs)), watch=board)
    try:
        return await scheduler.run(jobs, {})
    finally:
        board.finished = time.monotonic()


def gather_turns(
    session: Session,
    prompts: Sequence[str],
    options: TurnOptions,
    *,
    concurrency: int = 8,
    show: bool | None = None,
) -> list[ChatResult]:
    """Stream every prompt with `options`, at most `concurrency` at once, shown live."""
    if not prompts:
        return []
    jobs = _jobs(prompts)
    if len(jobs) > GRID_MOST:
        progress, work = _progressing(session, jobs, options, concurrency)
        return show_progress(progress, work, show=show)
    board = Board([str(job.label) for job in jobs])
    return show_board(board, _on_board(session, board, jobs, options, concurrency), show=show)


async def agather_turns(
    session: Session,
    prompts: Sequence[str],
    options: TurnOptions,
    *,
    concurrency: int = 8,
    show: bool | None = None,
) -> list[ChatResult]:
    """`gather_turns` for async callers."""
    if not prompts:
        return []
    jobs = _jobs(prompts)
    if len(jobs) > GRID_MOST:
        progress, work = _progressing(session, jobs, options, concurrency)
        return await ashow_progress(progress, work, show=show)
    board = Board([str(job.label) for job in jobs])
    work = _on_board(session, board, jobs, options, concurrency)
    return await ashow_board(board, work, show=show)


def _progressing(
    session: Session, jobs: Sequence[Job], options: TurnOptions, concurrency: int
) -> tuple[Progress, Coroutine[Any, Any, list[ChatResult]]]:
    progress = Progress(len(jobs))
    scheduler = Scheduler(session, options, Pacer(concurrency), progress)
    return progress, scheduler.run(jobs, {})


def _jobs(prompts: Sequence[str]) -> list[Job]:
    return [Job(i, _preview(prompt), prompt) for i, prompt in enumerate(prompts)]


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
    work = _on_board(session, board, jobs, options, concurrency=len(models))
    results = show_board(board, work, show=show, columns=len(models))
    show_table(comparison_table(models, results, session.cost), show)
    return results


def _preview(prompt: str, width: int = 60) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= width else line[: width - 1] + "…"
