"""A run's results in the shape of its input: a list for a list, a DataFrame for pandas."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..engine.result import ChatResult
from .jobs import is_frame


def shaped(
    items: Any, results: Sequence[ChatResult], cost_of: Callable[[ChatResult], float | None]
) -> Any:
    """`results` as given for a list; for a Series or DataFrame, a DataFrame with its index and
    a row per item: text, status, tokens, cost and error."""
    if not (is_frame(items) or type(items).__name__ == "Series"):
        return list(results)
    import pandas as pd

    columns = {
        "text": [r.text for r in results],
        "status": [r.status.value for r in results],
        "prompt_tokens": [r.usage.prompt_tokens for r in results],
        "completion_tokens": [r.usage.completion_tokens for r in results],
        "cost": [cost_of(r) for r in results],
        "error": [r.error for r in results],
    }
    return pd.DataFrame(columns, index=items.index)
