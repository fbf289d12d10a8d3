"""The prompts of a data-scale run: one per list item, Series value or DataFrame row.

A template's `{column}` fields take the row's values, `{item}` the item (the row, for a
DataFrame) and `{index}` its index label; every other brace stays as written
(`interpolate`'s rules: JSON and code in a template are safe).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import BadInputError
from ..interpolate import interpolate
from ..turn import TurnOptions


@dataclass(frozen=True)
class Job:
    """One item to ask about: its position, its index label and its prompt (and its own
    options, when they differ from the run's: a model each in `compare`)."""

    position: int
    label: Hashable
    prompt: str
    options: TurnOptions | None = None


def jobs_for(items: Any, template: str) -> list[Job]:
    """The prompts for `items` (a list, a pandas Series or DataFrame), in input order."""
    if not isinstance(template, str) or not template.strip():
        raise BadInputError("empty template", "pass the prompt text, e.g. 'Classify: {item}'")
    rows = list(_rows(items))
    jobs = []
    for position, (label, item, fields) in enumerate(rows):
        prompt = interpolate(template, {**fields, "item": item, "index": label})
        if not prompt.strip():
            raise BadInputError(f"item {label!r} gives an empty prompt", "check the template")
        jobs.append(Job(position, label, prompt))
    return jobs


def is_frame(items: Any) -> bool:
    """True for a pandas DataFrame (checked without importing pandas)."""
    return type(items).__name__ == "DataFrame" and hasattr(items, "iterrows")


def _rows(items: Any) -> Iterable[tuple[Hashable, Any, dict[str, Any]]]:
    if is_frame(items):
        for label, row in items.iterrows():
            yield label, row, {str(column): value for column, value in row.items()}
    elif type(items).__name__ == "Series" and hasattr(items, "items"):
        yield from ((label, value, {}) for label, value in items.items())
    elif isinstance(items, Iterable) and not isinstance(items, (str, bytes)):
        yield from ((position, value, {}) for position, value in enumerate(items))
    else:
        raise BadInputError(
            f"cannot map over a {type(items).__name__}", "pass a list, a Series or a DataFrame"
        )
