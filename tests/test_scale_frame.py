"""A run's results in the shape of its input, without a server: a list for a list, a DataFrame
(its index kept) for a Series or a DataFrame."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nbstream.engine.result import ChatResult, Status, Usage
from nbstream.scale.frame import shaped
from nbstream.typed import shape_of

RESULTS = [
    ChatResult(text='{"category": "bug", "urgent": true}', usage=Usage(3, 5)),
    ChatResult(status=Status.FAILED, error="429: slow down"),
]


def cost(result: ChatResult) -> float | None:
    return result.usage.completion_tokens / 100 if result.usage.completion_tokens else None


@dataclass
class Label:
    category: str
    urgent: bool


def test_a_list_gives_the_results_themselves_in_order() -> None:
    assert shaped(["a", "b"], RESULTS, cost) == RESULTS


def test_a_dataframe_gives_a_row_per_item_under_its_index() -> None:
    out = shaped(pd.DataFrame({"q": ["a", "b"]}, index=[10, 20]), RESULTS, cost)
    assert list(out.index) == [10, 20]
    missing_as_none = out.astype(object).where(out.notna(), None)
    assert missing_as_none.to_dict("list") == {
        "text": [RESULTS[0].text, ""],
        "status": ["complete", "failed"],
        "prompt_tokens": [3, 0],
        "completion_tokens": [5, 0],
        "cost": [0.05, None],
        "error": [None, "429: slow down"],
    }


def test_a_series_with_a_schema_gives_the_parsed_fields_as_columns() -> None:
    out = shaped(pd.Series(["a", "b"], index=["x", "y"]), RESULTS, cost, shape_of(Label))
    assert list(out.index) == ["x", "y"] and "text" not in out.columns
    assert (out.loc["x", "category"], bool(out.loc["x", "urgent"])) == ("bug", True)
    assert list(out["status"]) == ["complete", "failed"]
