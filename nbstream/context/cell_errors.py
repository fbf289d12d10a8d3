"""`{Err[n]}` and `{Err}`: each cell's exception and traceback, as plain text.

IPython keeps only the last exception, so the extension records each cell's error from
`%load_ext nbstream` on; asking for an earlier cell says so. Owned by the kernel's main thread
(IPython runs `post_run_cell` hooks there).
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
#: Characters kept of one traceback: its end, where the error is (a RecursionError's can be MBs).
KEPT = 16_000


def plain(text: str) -> str:
    """`text` without ANSI colour codes."""
    return _ANSI.sub("", text)


class CellErrors:
    """The errors of cells run since `first`, by execution count; `str()` is the last one."""

    def __init__(self, first: int) -> None:
        self.first = first
        self._errors: dict[int, str] = {}
        self.last: int | None = None  # the execution count of the last cell that failed

    def record(self, count: int, traceback: str) -> None:
        """Keep cell `count`'s traceback (ANSI stripped, its end kept when long)."""
        text = plain(traceback).strip()
        if len(text) > KEPT:
            text = f"… (left out: the first {len(text) - KEPT:,} characters)\n{text[-KEPT:]}"
        self._errors[count] = text
        self.last = count

    def __getitem__(self, count: int) -> str:
        if not isinstance(count, int):
            raise TypeError(f"Err[{count!r}]: a cell number, like Err[3]")
        if count < self.first:
            raise LookupError(
                f"cell {count} ran before %load_ext nbstream (cell {self.first}): "
                "its error was not recorded"
            )
        if count not in self._errors:
            raise LookupError(f"cell {count} raised no error")
        return self._errors[count]

    def __contains__(self, count: object) -> bool:
        return count in self._errors

    def __str__(self) -> str:
        if self.last is None:
            return "(no cell has failed since %load_ext nbstream)"
        return self._errors[self.last]

    def _repr_llm_(self) -> str:
        return str(self)


def fix_prompt(count: int, source: str, traceback: str) -> str:
    """What `%chat fix` asks: an explanation of cell `count`'s error and the corrected cell."""
    return (
        f"Cell {count} of my notebook failed. Explain the error in a few sentences, then give "
        "the corrected cell in one ```python block.\n\n"
        f"The cell:\n\n```python\n{source.strip()}\n```\n\nThe error:\n\n```\n{traceback}\n```"
    )
