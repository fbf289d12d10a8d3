"""A tool's return value as the text the model reads.

`str` as is; pandas objects as a compact table with their shape; anything else by its
`_repr_llm_`, `_repr_markdown_` or `repr`. Cut to `limit` characters with a note saying how much
was left out, and every configured key masked: a tool may return what it read from the
environment, and the result is sent to the model and shown.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterable
from typing import Any

from ..redact import redact

#: Rows and columns of a pandas object shown before the rest is elided.
TABLE_ROWS, TABLE_COLUMNS = 20, 12


def result_text(value: Any, limit: int, keys: Iterable[str] = ()) -> str:
    """The text sent back for `value`: converted, keys masked, cut to `limit` characters."""
    return cut(redact(_as_text(value), keys), limit)


def error_text(err: BaseException, keys: Iterable[str] = ()) -> str:
    """An exception as the tool's error: its type and message, as a traceback's last line."""
    last = traceback.format_exception_only(type(err), err)[-1].strip()
    return redact(f"error: {last}", keys)


def cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with a note of what was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [cut: {len(text) - limit:,} more characters not shown]"


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    table = _pandas(value)
    if table is not None:
        return table
    for method in ("_repr_llm_", "_repr_markdown_"):
        render = getattr(value, method, None)
        if callable(render):
            text = render()
            if isinstance(text, str):
                return text
    return repr(value)


def _pandas(value: Any) -> str | None:
    # Only when pandas is already imported: a tool that returns a DataFrame has imported it.
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(value, (pandas.DataFrame, pandas.Series)):
        return None
    shape = " x ".join(str(n) for n in value.shape)
    kind = type(value).__name__
    if isinstance(value, pandas.Series):
        text = value.to_string(max_rows=TABLE_ROWS)
    else:
        text = value.to_string(max_rows=TABLE_ROWS, max_cols=TABLE_COLUMNS, show_dimensions=False)
    return f"{kind} ({shape})\n{text}"
