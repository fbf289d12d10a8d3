"""A DataFrame or Series as a compact Markdown view that fits a token budget.

Never `str(df)` of the whole frame: only the rows and columns shown are turned into text, so a
50 MB frame costs what its view costs. pandas and polars are recognised by their module, not
imported: both stay optional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.result import estimate_tokens

#: Rows shown whole; a longer frame shows its head and tail.
SHORT = 20
HEAD, TAIL = 10, 5
#: Columns shown at most (half from each end of a wide frame), and characters per cell.
COLUMNS = 24
CELL = 60


@dataclass(frozen=True)
class Table:
    """The view of a table and what the footer says of it ('table (344×7)')."""

    text: str
    rows: int
    columns: int

    @property
    def label(self) -> str:
        """'table (344×7)'."""
        return f"table ({self.rows}×{self.columns})"


def is_table(value: Any) -> bool:
    """True for a pandas or polars DataFrame or Series (without importing either)."""
    module = type(value).__module__.split(".")[0]
    return module in ("pandas", "polars") and type(value).__name__ in ("DataFrame", "Series")


def table_view(value: Any, budget: int) -> Table:
    """The frame's shape, dtypes, head and tail as Markdown, in at most about `budget` tokens."""
    frame = _Frame.of(value)
    head, tail = (frame.rows, 0) if frame.rows <= SHORT else (HEAD, TAIL)
    columns = min(frame.columns, COLUMNS)
    while True:
        text = _render(frame, head, tail, columns)
        if estimate_tokens(text) <= budget or (head + tail <= 1 and columns <= 1):
            return Table(text, frame.rows, frame.columns)
        # Rows go first (a table without its columns says little), then columns.
        if head + tail > 2:
            head, tail = max(1, head // 2), tail // 2
        else:
            head, tail, columns = 1, 0, max(1, columns // 2)


@dataclass(frozen=True)
class _Frame:
    """The little of a pandas or polars frame the view needs."""

    value: Any
    polars: bool
    rows: int
    columns: int
    names: tuple[str, ...]
    dtypes: tuple[str, ...]

    @classmethod
    def of(cls, value: Any) -> _Frame:
        polars = type(value).__module__.startswith("polars")
        if type(value).__name__ == "Series":
            value = value.to_frame()
        rows, columns = value.shape
        if polars:
            names, dtypes = tuple(value.columns), tuple(str(d) for d in value.dtypes)
        else:
            names = tuple(str(c) for c in value.columns)
            dtypes = tuple(str(d) for d in value.dtypes)
        return cls(value, polars, rows, columns, names, dtypes)

    def cells(self, start: int, stop: int, picked: Sequence[int]) -> list[list[str]]:
        """Rows `start:stop` of the `picked` columns as text (pandas: the index first)."""
        if self.polars:
            part = self.value[start:stop].select([self.names[i] for i in picked])
            return [[_cell(v) for v in row] for row in part.iter_rows()]
        part = self.value.iloc[start:stop, list(picked)]
        return [[_cell(index), *(_cell(v) for v in row)] for index, row in
                zip(part.index, part.itertuples(index=False, name=None), strict=True)]  # fmt: skip


def _render(frame: _Frame, head: int, tail: int, columns: int) -> str:
    picked = _picked(frame.columns, columns)
    names = [frame.names[i] for i in picked]
    top = frame.cells(0, head, picked)
    bottom = frame.cells(frame.rows - tail, frame.rows, picked) if tail else []
    header = names if frame.polars else ["", *names]
    lines = [_row(header), _row(["---"] * len(header)), *map(_row, top)]
    if bottom:
        lines += [_row(["…"] * len(header)), *map(_row, bottom)]
    dtypes = ", ".join(f"{frame.names[i]}: {frame.dtypes[i]}" for i in picked)
    kind = "polars" if frame.polars else "pandas"
    intro = [f"{kind} table, {frame.rows} rows × {frame.columns} columns; dtypes: {dtypes}"]
    return "\n".join([*intro, "", *lines, *_left_out(frame, head + tail, len(picked))])


def _picked(total: int, shown: int) -> list[int]:
    if total <= shown:
        return list(range(total))
    first = (shown + 1) // 2
    return [*range(first), *range(total - (shown - first), total)]


def _left_out(frame: _Frame, rows: int, columns: int) -> list[str]:
    omitted = []
    if frame.rows > rows:
        omitted.append(f"{frame.rows - rows} of {frame.rows} rows")
    if frame.columns > columns:
        omitted.append(f"{frame.columns - columns} of {frame.columns} columns")
    return ["", f"(left out: {' and '.join(omitted)})"] if omitted else []


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: Any) -> str:
    # Six significant digits, as pandas shows them: a float's full repr is tokens for nothing.
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= CELL else text[: CELL - 1] + "…"
