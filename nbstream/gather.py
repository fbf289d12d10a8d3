"""Many streams at once: `gather` for a list of prompts, `compare` for one prompt to several
models.

All streams run on nbstream's loop thread and write their state into a `Board`, which the show
layer's grid draws. A failure stays on its item; an interrupt cancels every stream and closes
every connection; a rate limit halves the concurrency.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .engine.result import ChatResult, Event, Retrying, Status
from .errors import NbStreamError, StreamError
from .session import Session
from .show.grid import ashow_board, comparison_table, show_board, show_table
from .turn import TurnOptions


class AdaptiveLimit:
    """At most `limit` streams at once; halves on a rate limit, regrows by one per success."""

    def __init__(self, limit: int) -> None:
        self.ceiling = self.limit = max(1, limit)
        self.active = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.active < self.limit)
            self.active += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self.active -= 1
            if exc[0] is None:
                self.limit = min(self.ceiling, self.limit + 1)
            self._changed.notify_all()

    def watch(self, event: Event) -> None:
        """A stream's events: back off when the server says it is rate limiting."""
        if isinstance(event, Retrying) and event.reason == "rate limited":
            self.limit = max(1, self.limit // 2)


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


async def _run_one(
    session: Session,
    board: Board,
    index: int,
    prompt: str,
    options: TurnOptions,
    limit: AdaptiveLimit,
) -> ChatResult:
    async with limit:
        try:
            result = await session.achat(
                prompt, options, on_update=board.update(index), interval=0.1, sink=limit.watch
            )
        except StreamError as err:
            board.end(index, err.result, err.message)
            return err.result
        except NbStreamError as err:
            failed = ChatResult(status=Status.FAILED, error=err.message, model=options.model or "")
            board.end(index, failed, err.message)
            return failed
    board.end(index, result)
    return result


async def _run_all(
    session: Session, board: Board, jobs: Sequence[tuple[str, TurnOptions]], concurrency: int
) -> list[ChatResult]:
    limit = AdaptiveLimit(concurrency)
    try:
        return list(
            await asyncio.gather(
                *(
                    _run_one(session, board, i, prompt, options, limit)
                    for i, (prompt, options) in enumerate(jobs)
                )
            )
        )
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
    """Stream every prompt with `options`, at most `concurrency` at once, live in one grid."""
    if not prompts:
        return []
    return show_board(*_gathering(session, prompts, options, concurrency), show=show)


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
    return await ashow_board(*_gathering(session, prompts, options, concurrency), show=show)


def _gathering(
    session: Session, prompts: Sequence[str], options: TurnOptions, concurrency: int
) -> tuple[Board, Coroutine[Any, Any, list[ChatResult]]]:
    """The board of `prompts` and the work that runs them all with the same options."""
    board = Board([_preview(prompt) for prompt in prompts])
    jobs = [(prompt, options) for prompt in prompts]
    return board, _run_all(session, board, jobs, concurrency)


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
    for model in models:
        branch = f"{options.thread}@{model}"
        if not options.no_history:
            session.store.fork(options.thread, branch)
        jobs.append((prompt, replace(options, model=model, thread=branch)))
    board = Board(list(models))
    work = _run_all(session, board, jobs, concurrency=len(models))
    results = show_board(board, work, show=show, columns=len(models))
    show_table(comparison_table(models, results, session.cost), show)
    return results


def _preview(prompt: str, width: int = 60) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= width else line[: width - 1] + "…"
