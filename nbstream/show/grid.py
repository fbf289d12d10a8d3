"""The grid of `gather`, `compare` and `%%chat --each`: many replies in one output.

The main thread redraws one display output at the throttle's pace, so 100 streams cost no
more IOPub messages than one; a terminal gets only the final text.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..engine import loop
from ..engine.result import ChatResult
from .live import NotebookSurface, TerminalSurface, surface_for
from .markdown import safe_html
from .rendering import Throttle, footer, format_seconds

if TYPE_CHECKING:
    from ..gather import Board, Item

T = TypeVar("T")

#: Characters of each reply shown while streaming; the final output has everything.
TAIL = 400


def render(board: Board, *, final: bool, columns: int | None = None) -> dict[str, str]:
    """The board as an HTML grid (model text as `markdown.safe_html`) and plain text."""
    cells, plain = [], []
    for number, item in enumerate(board.items, 1):
        result = item.result
        text = result.text if final else result.text[-TAIL:]
        status = _status(item)
        cells.append(
            '<div class="nbstream-item" style="border:1px solid var(--jp-border-color2,#ccc);'
            'border-radius:4px;padding:6px;min-width:0">'
            f'<div style="font-weight:600">{number}. {html.escape(item.title)}</div>'
            f'<div style="max-height:16em;overflow:auto">{safe_html(text)}</div>'
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
        f'<div style="margin-top:4px;font-size:85%">{html.escape(total_line(board))}</div>'
    )
    return {"text/html": grid, "text/plain": "\n\n".join([*plain, total_line(board)])}


def _status(item: Item) -> str:
    result = item.result
    if item.error:
        return f"✖ {item.error}"
    if item.done:
        return footer(result)
    if result.timings.first_token is None:
        return "waiting"
    return f"streaming · {result.usage.completion_tokens} tokens"


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


def show_board(
    board: Board, work: Coroutine[Any, Any, T], *, show: bool | None, columns: int | None = None
) -> T:
    """Run `work` on the loop, drawing `board` as one live grid until it ends."""
    view = _BoardView(board, show, columns)
    job = loop.submit(work, board.wake)
    try:
        return loop.wait(job, tick=view.tick)
    finally:
        view.end()


async def ashow_board(board: Board, work: Coroutine[Any, Any, T], *, show: bool | None) -> T:
    """`show_board` for async callers: the caller's event loop stays free while it runs."""
    view = _BoardView(board, show, None)
    job = loop.submit(work, board.wake)
    try:
        return await loop.wait_async(job, tick=view.tick)
    finally:
        view.end()


class _GridOutput:
    """One display output for the whole grid (nothing in plain scripts)."""

    def __init__(self, show: bool | None) -> None:
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


def show_table(markdown: str, show: bool | None) -> None:
    surface = surface_for(show)
    if isinstance(surface, NotebookSurface):
        from IPython.display import display

        display({"text/markdown": markdown, "text/plain": markdown}, raw=True)
    elif isinstance(surface, TerminalSurface):
        print(markdown)


def total_line(board: Board) -> str:
    """Requests, tokens, wall time and aggregate speed."""
    results = [item.result for item in board.items]
    tokens = sum(r.usage.completion_tokens for r in results)
    wall = (board.finished or time.monotonic()) - board.started
    done = sum(item.done for item in board.items)
    failed = sum(item.error is not None for item in board.items)
    rate = f" · {tokens / wall:.1f} tok/s aggregate" if wall > 0 and tokens else ""
    failures = f" · {failed} failed" if failed else ""
    return (
        f"{done}/{len(board.items)} requests · {tokens} completion tokens · "
        f"wall {format_seconds(wall)}{rate}{failures}"
    )


def comparison_table(
    models: Sequence[str],
    results: Sequence[ChatResult],
    cost_of: Callable[[ChatResult], float | None],
) -> str:
    """A Markdown table: time to first token, tokens/s, tokens, cost per model."""
    rows = [
        "| model | first token | tok/s | prompt → completion | total | cost |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, result in zip(models, results, strict=True):
        speed = f"{result.tokens_per_second:.1f}" if result.tokens_per_second else "n/a"
        cost = cost_of(result)
        usage = result.usage
        mark = "≈" if usage.estimated else ""
        rows.append(
            f"| {model} | {format_seconds(result.time_to_first_token)} | {speed} | "
            f"{mark}{usage.prompt_tokens} → {mark}{usage.completion_tokens} | "
            f"{format_seconds(result.timings.total)} | "
            f"{f'${cost:.4f}' if cost is not None else 'n/a'} |"
        )
    return "\n".join(rows)
