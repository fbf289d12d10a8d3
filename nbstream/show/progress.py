"""The progress view of a data-scale run (`nbstream.map`, a large `gather`, batches).

One display output, redrawn at most `MAX_RATE` times a second whatever the number of items:
counts, speed, cost, ETA and the last few replies (a line each, through the safe renderer),
so its messages stay small and rare at any n. A terminal gets the summary line at the end.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..engine import loop
from ..scale.progress import Progress
from .markdown import safe_html
from .rendering import format_seconds
from .surfaces import NotebookSurface, TerminalSurface, surface_for

T = TypeVar("T")

#: Updates a second while it runs, at most. With the final drawing, which cannot wait, any 1 s
#: window holds two messages at most; a faster rate would let one hold three.
MAX_RATE = 1.0
#: Characters of each recent reply shown.
PREVIEW = 160
_BAR = "height:6px;background:rgba(128,128,128,0.2);border-radius:3px;overflow:hidden"
_FILL = "height:100%;background:rgba(46,125,50,0.8)"


def lines(progress: Progress, *, final: bool) -> list[str]:
    """The view's text lines, shared by the HTML and the plain text."""
    done = f"{progress.ended}/{progress.total} done"
    parts = [done if final else f"{done} · {progress.in_flight} in flight"]
    if progress.failed:
        parts.append(f"{progress.failed} failed")
    if progress.resumed:
        parts.append(f"{progress.resumed} from the record")
    rate = progress.tokens_per_second
    parts.append(f"{rate:.0f} tok/s" if rate else "0 tok/s")
    if progress.cost is not None:
        parts.append(f"${progress.cost:.4f}")
    if not final and progress.concurrency:
        parts.append(f"{progress.concurrency} at once")
    eta = progress.eta
    parts.append(f"wall {format_seconds(progress.wall)}" if final or eta is None
                 else f"ETA {format_seconds(eta)}")  # fmt: skip
    said = [" · ".join(parts)]
    said += [note for note in (progress.stopped, progress.status_line, progress.estimate) if note]
    return said


def render(progress: Progress, *, final: bool) -> dict[str, str]:
    """The view as HTML (model text through `safe_html`) and plain text; a few KB at most."""
    info = lines(progress, final=final)
    share = progress.ended / progress.total if progress.total else 1.0
    recent = [(label, " ".join(text.split())[:PREVIEW]) for label, text in progress.last]
    items = "".join(
        f"<li><b>{html.escape(label)}</b>: {safe_html(text)}</li>" for label, text in recent
    )
    body = (
        f'<div class="nbstream-progress"><div style="{_BAR}">'
        f'<div style="{_FILL};width:{share * 100:.1f}%"></div></div>'
        + "".join(f"<div>{html.escape(line)}</div>" for line in info)
        + (f'<ul style="margin:2px 0;font-size:85%">{items}</ul>' if items else "")
        + "</div>"
    )
    plain = [*info, *(f"  {label}: {text}" for label, text in recent)]
    return {"text/html": body, "text/plain": "\n".join(plain)}


class ProgressView:
    """Draws a `Progress` into one output, at most MAX_RATE times a second, then at the end."""

    def __init__(
        self, progress: Progress, show: bool | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.progress = progress
        self._clock = clock
        surface = surface_for(show)
        self._notebook = isinstance(surface, NotebookSurface)
        self._terminal = isinstance(surface, TerminalSurface)
        self._handle: Any = None
        self._shown, self._last = -1, float("-inf")
        self.messages = 0

    def tick(self) -> float:
        """Redraw if anything changed and the rate allows; seconds until the next tick."""
        now = self._clock()
        due = self._last + 1 / MAX_RATE - now
        if due <= 0 and self.progress.version != self._shown:
            self._shown, self._last = self.progress.version, now
            self._draw(render(self.progress, final=False))
            due = 1 / MAX_RATE
        return max(due, 0.05)

    def end(self) -> None:
        """The final drawing: the summary line stays in the saved notebook."""
        data = render(self.progress, final=True)
        self._draw(data)
        if self._terminal:
            print(data["text/plain"].split("\n", 1)[0])

    def _draw(self, data: dict[str, str]) -> None:
        if not self._notebook:
            return
        from IPython.display import display

        self.messages += 1
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)


def show_progress(progress: Progress, work: Coroutine[Any, Any, T], *, show: bool | None) -> T:
    """Run `work` on nbstream's loop, drawing `progress` until it ends (or is interrupted)."""
    view = ProgressView(progress, show)
    job = loop.submit(work, progress.wake)
    try:
        return loop.wait(job, tick=view.tick)
    finally:
        view.end()


async def ashow_progress(
    progress: Progress, work: Coroutine[Any, Any, T], *, show: bool | None
) -> T:
    """`show_progress` for async callers: their event loop stays free meanwhile."""
    view = ProgressView(progress, show)
    job = loop.submit(work, progress.wake)
    try:
        return await loop.wait_async(job, tick=view.tick)
    finally:
        view.end()
