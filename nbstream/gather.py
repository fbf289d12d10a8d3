"""Many streams at once, live in one output: `gather` for a list of prompts, `compare` for
one prompt to several models.

All streams run on nbstream's loop thread; the main thread redraws one display output (a grid)
at the throttle's pace, so 100 streams cost no more IOPub messages than one. A failure stays
on its item; an interrupt cancels every stream and closes every connection.
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .engine import loop
from .engine.result import ChatResult, Event, Retrying, Status
from .errors import NbStreamError, StreamError
from .session import Session, TurnOptions
from .show.rendering import Throttle, footer, format_seconds

#: Characters of each reply shown while streaming; the final output has everything.
TAIL = 400


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

    def total_line(self) -> str:
        """Requests, tokens, wall time and aggregate speed."""
        results = [item.result for item in self.items]
        tokens = sum(r.usage.completion_tokens for r in results)
        wall = (self.finished or time.monotonic()) - self.started
        done = sum(item.done for item in self.items)
        failed = sum(item.error is not None for item in self.items)
        rate = f" · {tokens / wall:.1f} tok/s aggregate" if wall > 0 and tokens else ""
        failures = f" · {failed} failed" if failed else ""
        return (
            f"{done}/{len(self.items)} requests · {tokens} completion tokens · "
            f"wall {format_seconds(wall)}{rate}{failures}"
        )


def render(board: Board, *, final: bool, columns: int | None = None) -> dict[str, str]:
    """The board as an HTML grid (model text escaped, never rendered) and plain text."""
    cells, plain = [], []
    for number, item in enumerate(board.items, 1):
        result = item.result
        text = result.text if final else result.text[-TAIL:]
        status = _status(item)
        cells.append(
            '<div class="nbstream-item" style="border:1px solid var(--jp-border-color2,#ccc);'
            'border-radius:4px;padding:6px;min-width:0">'
            f'<div style="font-weight:600">{number}. {html.escape(item.title)}</div>'
            f'<div style="white-space:pre-wrap;max-height:16em;overflow:auto">'
            f"{html.escape(text)}</div>"
            f'<div style="font-size:85%;opacity:.75">{html.escape(status)}</div></div>'
        )
        plain.append(f"[{number}] {item.title}\n{text}\n{status}")
    template = (
        f"repeat({columns}, minmax(0, 1fr))"
        if columns
        else ("repeat(auto-fill, minmax(260px, 1fr))")
    )
    grid = (
        f'<div class="nbstream-grid" style="display:grid;grid-template-columns:{template};'
        f'gap:8px">{"".join(cells)}</div>'
        f'<div style="margin-top:4px;font-size:85%">{html.escape(board.total_line())}</div>'
    )
    return {"text/html": grid, "text/plain": "\n\n".join([*plain, board.total_line()])}


def _status(item: Item) -> str:
    result = item.result
    if item.error:
        return f"✖ {item.error}"
    if item.done:
        return footer(result)
    if result.timings.first_token is None:
        return "⏳ waiting"
    return f"⏳ {result.usage.completion_tokens} tokens"


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


class _BoardView:
    """Draws the board into one output at the throttle's pace, then once more at the end."""

    def __init__(self, board: Board, show: bool | None, columns: int | None) -> None:
        self.board, self.columns = board, columns
        self.output = _GridOutput(show)
        self.throttle = Throttle()
        self.shown = -1  # the board version on screen

    def tick(self) -> float:
        """Redraw if the board changed and the throttle allows; seconds to the next tick."""
        now = time.monotonic()
        if self.board.version != self.shown and self.throttle.wait(now) == 0:
            self.shown = self.board.version
            self.output.show(render(self.board, final=False, columns=self.columns), final=False)
            self.throttle.sent(now, self.output.size)
        return max(self.throttle.wait(now), 0.1)

    def end(self) -> None:
        """The final drawing, with every reply in full."""
        self.output.show(render(self.board, final=True, columns=self.columns), final=True)


def run_board(
    session: Session,
    titles: Sequence[str],
    jobs: Sequence[tuple[str, TurnOptions]],
    *,
    concurrency: int,
    show: bool | None,
    columns: int | None = None,
) -> list[ChatResult]:
    """Run `jobs` concurrently, drawing them as one live grid; results in job order."""
    board = Board(titles)
    view = _BoardView(board, show, columns)
    job = loop.submit(_run_all(session, board, jobs, concurrency), board.wake)
    try:
        return loop.wait(job, tick=view.tick)
    finally:
        view.end()


async def arun_board(
    session: Session,
    titles: Sequence[str],
    jobs: Sequence[tuple[str, TurnOptions]],
    *,
    concurrency: int,
    show: bool | None,
) -> list[ChatResult]:
    """`run_board` for async callers: the caller's event loop stays free while it runs."""
    board = Board(titles)
    view = _BoardView(board, show, None)
    job = loop.submit(_run_all(session, board, jobs, concurrency), board.wake)
    try:
        return await loop.wait_async(job, tick=view.tick)
    finally:
        view.end()


class _GridOutput:
    """One display output for the whole grid (nothing in plain scripts)."""

    def __init__(self, show: bool | None) -> None:
        from .show.live import NotebookSurface, TerminalSurface, surface_for

        surface = surface_for(show)
        self._notebook = isinstance(surface, NotebookSurface)
        self._terminal = isinstance(surface, TerminalSurface)
        self._handle: Any = None
        self.size = 0

    def show(self, data: dict[str, str], *, final: bool) -> None:
        """Draw the grid; a terminal gets only the final text (50 live streams would scroll)."""
        self.size = sum(len(value) for value in data.values())
        if self._notebook:
            from IPython.display import display

            if self._handle is None:
                self._handle = display(data, raw=True, display_id=True)
            else:
                self._handle.update(data, raw=True)
        elif self._terminal and final:
            print(data["text/plain"])


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
    return run_board(session, *_same_options(prompts, options), concurrency=concurrency, show=show)


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
    titles, jobs = _same_options(prompts, options)
    return await arun_board(session, titles, jobs, concurrency=concurrency, show=show)


def _same_options(
    prompts: Sequence[str], options: TurnOptions
) -> tuple[list[str], list[tuple[str, TurnOptions]]]:
    return [_preview(prompt) for prompt in prompts], [(prompt, options) for prompt in prompts]


def compare_turns(
    session: Session,
    prompt: str,
    models: Sequence[str],
    options: TurnOptions,
    *,
    show: bool | None = None,
) -> list[ChatResult]:
    """Send `prompt` to each model at once, side by side, then show a comparison table.

    Each model continues the thread in its own branch `THREAD@MODEL`, so a follow-up can
    go on with any of them.
    """
    jobs = []
    for model in models:
        branch = f"{options.thread}@{model}"
        session.store.fork(options.thread, branch)
        jobs.append((prompt, replace(options, model=model, thread=branch)))
    results = run_board(
        session, list(models), jobs, concurrency=len(models), show=show, columns=len(models)
    )
    _show_table(comparison_table(models, results, session), show)
    return results


def comparison_table(models: Sequence[str], results: Sequence[ChatResult], session: Session) -> str:
    """A Markdown table: time to first token, tokens/s, tokens, cost per model."""
    rows = [
        "| model | first token | tok/s | prompt → completion | total | cost |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, result in zip(models, results, strict=True):
        speed = f"{result.tokens_per_second:.1f}" if result.tokens_per_second else "n/a"
        cost = session.cost(result)
        usage = result.usage
        mark = "≈" if usage.estimated else ""
        rows.append(
            f"| {model} | {format_seconds(result.time_to_first_token)} | {speed} | "
            f"{mark}{usage.prompt_tokens} → {mark}{usage.completion_tokens} | "
            f"{format_seconds(result.timings.total)} | "
            f"{f'${cost:.4f}' if cost is not None else 'n/a'} |"
        )
    return "\n".join(rows)


def _show_table(markdown: str, show: bool | None) -> None:
    from .show.live import NotebookSurface, TerminalSurface, surface_for

    surface = surface_for(show)
    if isinstance(surface, NotebookSurface):
        from IPython.display import display

        display({"text/markdown": markdown, "text/plain": markdown}, raw=True)
    elif isinstance(surface, TerminalSurface):
        print(markdown)


def _preview(prompt: str, width: int = 60) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= width else line[: width - 1] + "…"
