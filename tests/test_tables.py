"""A DataFrame as prompt context: its shape, dtypes and rows as Markdown, within a budget."""

from __future__ import annotations

import pandas as pd

from nbstream.context.tables import is_table, table_view


def test_a_small_frame_is_sent_whole_with_its_shape_and_dtypes() -> None:
    table = table_view(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), 500)
    assert (
        table.text.splitlines()[0] == "pandas table, 2 rows × 2 columns; dtypes: a: int64, b: str"
    )
    assert table.text.splitlines()[2:] == [
        "|  | a | b |", "| --- | --- | --- |", "| 0 | 1 | x |", "| 1 | 2 | y |",
    ]  # fmt: skip
    assert table.label == "table (2×2)"


def test_a_long_frame_is_cut_to_the_budget_and_keeps_its_true_shape() -> None:
    table = table_view(pd.DataFrame({"n": range(10_000)}), 60)
    assert table.label == "table (10000×1)"
    assert len(table.text) < 60 * 4 * 2 and "| 0 | 0 |" in table.text


def test_only_frames_and_series_are_tables() -> None:
    assert is_table(pd.DataFrame()) and is_table(pd.Series([1]))
    assert not is_table([[1, 2]]) and not is_table({"a": [1]})
