"""The kernel's side of context: each cell's error, the last figure shown, what `{...}` names.

Takes the IPython shell as a plain object (no IPython import): `post_run_cell` hooks, the
display formatter and the input history are all it touches. Everything here is changed on the
kernel's main thread, where IPython runs cells, hooks and formatters.
"""

from __future__ import annotations

import sys
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .cell_errors import CellErrors

#: matplotlib's Figure, named so that IPython matches it without matplotlib being imported.
FIGURE = "matplotlib.figure.Figure"


class LastFigure:
    """The last matplotlib figure the notebook displayed (the inline backend's, `display(fig)`,
    a cell's value): the inline backend closes its figures after each cell, so pyplot has lost
    them by the time a `%%chat` cell asks."""

    def __init__(self, previous: Callable[[Any], Any] | None) -> None:
        self.figure: Any = None
        self.previous = previous  # a printer for figures registered before ours

    def seen(self, figure: Any) -> Any:
        """IPython's mimebundle printer for figures: note the figure, and let the display go
        on as before (None: IPython formats it as usual)."""
        self.figure = figure
        return self.previous(figure) if self.previous is not None else None

    def current(self) -> Any:
        """The last figure displayed, else pyplot's current figure if one is open, else None
        (a non-interactive backend such as Agg displays nothing by itself)."""
        if self.figure is not None:
            return self.figure
        pyplot = sys.modules.get("matplotlib.pyplot")  # no figure exists before its import
        return pyplot.gcf() if pyplot is not None and pyplot.get_fignums() else None


@dataclass(frozen=True)
class Watched:
    """What the extension records as cells run; `stop()` removes the hooks that record it."""

    errors: CellErrors
    figures: LastFigure
    stop: Callable[[], None]


def watch(shell: Any) -> Watched:
    """Record every cell's error and the last figure displayed, from now on."""
    errors = CellErrors(first=shell.execution_count)

    def after(result: Any) -> None:
        error = result.error_in_exec
        if error is not None and result.execution_count is not None:
            errors.record(result.execution_count, _traceback(shell, error))

    shell.events.register("post_run_cell", after)
    printers = shell.display_formatter.mimebundle_formatter
    # Taken out, not just looked up: one already matched to the class would shadow ours.
    figures = LastFigure(printers.pop(FIGURE, None))
    printers.for_type_by_name(*FIGURE.rsplit(".", 1), figures.seen)

    def stop() -> None:
        shell.events.unregister("post_run_cell", after)
        printers.pop(FIGURE, None)
        if figures.previous is not None:
            printers.for_type_by_name(*FIGURE.rsplit(".", 1), figures.previous)

    return Watched(errors, figures, stop)


def _traceback(shell: Any, error: BaseException) -> str:
    # IPython's own formatting, as the cell showed it; the colour codes are stripped later.
    lines = shell.InteractiveTB.structured_traceback(type(error), error, error.__traceback__)
    return "\n".join(lines)


def names(shell: Any, watched: Watched | None) -> Mapping[str, Any]:
    """The user's namespace, with `In` as typed and, unless the user has their own, `Err` and
    `fig` (the last figure shown)."""
    extra: dict[str, Any] = {}
    history = getattr(shell, "history_manager", None)
    if history is not None and shell.user_ns.get("In") is history.input_hist_parsed:
        extra["In"] = history.input_hist_raw  # what the user typed, not IPython's translation
    fallback: dict[str, Any] = {}
    if watched is not None:
        figure = watched.figures.current()
        fallback = {"Err": watched.errors, **({"fig": figure} if figure is not None else {})}
    return ChainMap(extra, shell.user_ns, fallback)
