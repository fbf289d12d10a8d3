"""The kernel's side of context: recording each cell's error, and what `{...}` can name.

Takes the IPython shell as a plain object (no IPython import): `post_run_cell` hooks and the
input history are all it touches.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any

from .cell_errors import CellErrors


def watch_errors(shell: Any) -> tuple[CellErrors, Callable[[Any], None]]:
    """Record every cell's error from now on; returns the record and the hook (to unregister)."""
    errors = CellErrors(first=shell.execution_count)

    def after(result: Any) -> None:
        error = result.error_in_exec
        if error is not None and result.execution_count is not None:
            errors.record(result.execution_count, _traceback(shell, error))

    shell.events.register("post_run_cell", after)
    return errors, after


def _traceback(shell: Any, error: BaseException) -> str:
    # IPython's own formatting, as the cell showed it; the colour codes are stripped later.
    lines = shell.InteractiveTB.structured_traceback(type(error), error, error.__traceback__)
    return "\n".join(lines)


def names(shell: Any, errors: CellErrors | None) -> Mapping[str, Any]:
    """The user's namespace, with `Err` (unless the user has one) and `In` as typed."""
    extra: dict[str, Any] = {}
    history = getattr(shell, "history_manager", None)
    if history is not None and shell.user_ns.get("In") is history.input_hist_parsed:
        extra["In"] = history.input_hist_raw  # what the user typed, not IPython's translation
    fallback = {"Err": errors} if errors is not None else {}
    return ChainMap(extra, shell.user_ns, fallback)
