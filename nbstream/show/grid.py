"""The grid of `gather`, `compare` and `%%chat --each`: many replies in one output.

The main thread redraws one display output at the throttle's pace, so 100 streams cost no
more IOPub messages than one; a terminal gets only the final text.
"""

from __future__ import annotations

import functools
import html
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..engine import loop
from ..engine.result import ChatResult
from .badge import COLOURS, Badge, badge_html, final_badges
from .badge import text as badge_text
from .markdown import safe_html
from .rendering import Throttle, count, format_seconds
from .segments import segment_cut
from .surfaces import NotebookSurface, TerminalSurface, surface_for

if TYPE_CHECKING:
    from ..gather import Board, Item

T = TypeVar("T")

#: Characters of each reply shown while streaming; the final output has everything.
TAIL = 400
#: UTF-8 bytes of a final reply shown before the rest folds behind "show all".
FOLD = 1_200
#: Cards at least 260 px wide, as many to a row as fit: one column on a narrow screen.
_AUTO_COLUMNS = "repeat(auto-fill, minmax(260px, 1fr))"
# Colours as rgba: the sanitiser of untrusted outputs drops var(--jp-…) (see badge.py).
_CARD = "border:1px solid rgba(128,128,128,0.35);border-radius:4px;padding:6px;min-width:0"


def render(board: Board, *, final: bool, columns: int | None = None) -> dict[str, str]:
    """The board as an HTML grid (model text as `markdown.safe_html`) and plain text.

    Cards grow with their reply (a long one folds behind "show all"), stack on narrow
    screens, and use only styles JupyterLab's sanitiser keeps when the notebook is reopened.
    """
    cells, plain = [], []
    for number, item in enumerate(board.items, 1):
        result = item.result
        text = result.text if final else result.text[-TAIL:]
        badges, details = _status(item)
        cells.append(
            f'<div class="nbstream-item" style="{_CARD}">'
            f"<div><b>{number}. {html.escape(item.title)}</b></div>{_body(text, final)}"
            f'<div style="font-size:85%">{" ".join(map(badge_html, badges))} '
            f"{badge_text(details)}</div></div>"
        )
        words = " ".join(f"[{b.word}]" for b in badges)
        plain.append(f"[{number}] {item.title}\n{text}\n{words} {details}".rstrip())
    template = f"repeat({columns}, minmax(0, 1fr))" if columns else _AUTO_COLUMNS
    grid = (
        f'<div class="nbstream-grid" style="display:grid;grid-template-columns:{template};'
        f'gap:8px">{"".join(cells)}</div>'
        f'<div style="margin-top:4px;font-size:85%">{html.escape(total_line(board))}</div>'
    )
    return {"text/html": grid, "text/plain": "\n\n".join([*plain, total_line(board)])}


#: A streaming grid is redrawn whole on every tick, but only the replies that moved need
#: rendering again (safe_html parses and sanitises): the others' HTML is kept, by content.
live_html = functools.lru_cache(maxsize=4096)(safe_html)


def _body(text: str, final: bool) -> str:
    """A reply in full, its start shown and the rest folded once it is long."""
    cut = segment_cut(text, 0, FOLD) if final else None
    if cut is None:
        return safe_html(text) if final else live_html(text)
    rest = safe_html(cut.reopen + text[cut.end :])
    return f"{safe_html(text[: cut.end])}<details><summary>show all</summary>{rest}</details>"


def _status(item: Item) -> tuple[tuple[Badge, ...], str]:
    """The badges of a card and the one line beside them."""
    result = item.result
    if item.error:
        return (Badge("failed", COLOURS["failed"]),), item.error
    tokens = count(result.usage.completion_tokens)
    if result.timings.first_token is None and not item.done:
        return (Badge("waiting"),), ""
    if not item.done:
        return (Badge("streaming"),), tokens
    rate = f" · {result.tokens_per_second:.1f} tok/s" if result.tokens_per_second else ""
    return final_badges(result), f"{tokens}{rate} · total {format_seconds(result.timings.total)}"


class _BoardView:
    """Draws the board into one output at the throttle's pace, then once more at the end."""

    def __init__(self, board: Board, show: bool | None, columns: int | None) -> None:
        self.board, self.columns = board, columns
        self.output = _GridOutput(show if board.items else False)  # nothing to show
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
    """Show a Markdown table where the code runs: a notebook output, a terminal, or nowhere."""
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
