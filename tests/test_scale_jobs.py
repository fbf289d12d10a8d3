"""The prompts of a data-scale run, without a server: one per item, in input order."""

from __future__ import annotations

import pandas as pd
import pytest

from nbstream.errors import BadInputError
from nbstream.scale.jobs import is_frame, jobs_for


def prompts(items: object, template: str) -> list[tuple[int, object, str]]:
    return [(job.position, job.label, job.prompt) for job in jobs_for(items, template)]


def test_a_list_gives_a_prompt_per_item_labelled_by_position() -> None:
    assert prompts(iter(["a", "b"]), "{index}: {item}") == [(0, 0, "0: a"), (1, 1, "1: b")]


def test_a_series_labels_each_prompt_with_its_index() -> None:
    series = pd.Series(["x", "y"], index=["k1", "k2"])
    assert prompts(series, "{index}={item}") == [(0, "k1", "k1=x"), (1, "k2", "k2=y")]


def test_a_dataframe_row_fills_its_columns_and_keeps_other_braces_as_written() -> None:
    frame = pd.DataFrame({"title": ["Bug", "Idea"], "body": ["it {crashes}", "more"]},
                         index=["t1", "t2"])  # fmt: skip
    assert prompts(frame, '[{index}] {title}: {body} {"k": 1} {other}') == [
        (0, "t1", '[t1] Bug: it {crashes} {"k": 1} {other}'),
        (1, "t2", '[t2] Idea: more {"k": 1} {other}'),
    ]
    assert is_frame(frame) and not is_frame(frame["title"]) and not is_frame([])


@pytest.mark.parametrize(
    ("items", "template", "message"),
    [
        (["a"], "  ", "empty template"),
        (["a"], None, "empty template"),
        (["a", " "], "{item}", "item 1 gives an empty prompt"),
        ("abc", "{item}", "cannot map over a str"),
        (b"abc", "{item}", "cannot map over a bytes"),
        (42, "{item}", "cannot map over a int"),
    ],
)
def test_bad_items_or_templates_are_refused_before_any_prompt(items, template, message) -> None:
    with pytest.raises(BadInputError, match=message):
        jobs_for(items, template)
