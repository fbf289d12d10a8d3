"""A run's results in the shape of its input: a list for a list, a DataFrame for pandas."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..engine.result import ChatResult
from ..typed import Shape, typed
from .jobs import is_frame


def shaped(
    items: Any,
    results: Sequence[ChatResult],
    cost_of: Callable[[ChatResult], float | None],
    shape: Shape | None = None,
) -> Any:
    """`results` (each `parsed` by `shape`, if given) as a list for a list; for a Series or
    DataFrame, a DataFrame with its index and a row per item: the text (or, with a schema, the
    parsed fields), status, tokens, cost and error."""
    results = [typed(result, shape, raising=False) for result in results]
    if not (is_frame(items) or type(items).__name__ == "Series"):
        return results
    import pandas as pd

    answers = (
        {"text": [r.text for r in results]}
        if shape is None
        else pd.DataFrame([_fields(r.parsed) for r in results]).to_dict("list")
    )
    columns = {
        **answers,
        "status": [r.status.value for r in results],
        "prompt_tokens": [r.usage.prompt_tokens for r in results],
        "completion_tokens": [r.usage.completion_tokens for r in results],
        "cost": [cost_of(r) for r in results],
        "error": [r.error for r in results],
    }
    return pd.DataFrame(columns, index=items.index)


def frame(results: Iterable[ChatResult]) -> Any:
    """A pandas DataFrame of typed answers: a row per result, a column per field of its `parsed`
    (a result without one gives a row of missing values).

    `pd.DataFrame(r.parsed for r in results)` does this for dataclasses and TypedDicts, but
    pandas iterates a pydantic model as (name, value) tuples and makes a column of tuples.
    """
    import pandas as pd

    return pd.DataFrame([_fields(r.parsed) for r in results])


def _fields(parsed: Any) -> dict[str, Any]:
    """A parsed answer's fields: a pydantic model's, a dataclass's, a dict's; none for a
    missing answer; else `parsed` itself."""
    if parsed is None:
        return {}
    if hasattr(parsed, "model_dump"):
        return dict(parsed.model_dump())
    if dataclasses.is_dataclass(parsed) and not isinstance(parsed, type):
        return dataclasses.asdict(parsed)
    return dict(parsed) if isinstance(parsed, dict) else {"parsed": parsed}
