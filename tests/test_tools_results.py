"""A tool's return value as the text the model reads: converted, keys masked, cut with a note."""

from __future__ import annotations

from typing import Any

import pytest

from nbstream.tools.results import cut, error_text, result_text


class Llm:
    def _repr_llm_(self) -> str:
        return "for the model"

    def _repr_markdown_(self) -> str:
        return "**markdown**"


class Markdown:
    def _repr_markdown_(self) -> str:
        return "**markdown**"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("as is", "as is"),
        (Llm(), "for the model"),
        (Markdown(), "**markdown**"),
        ({"a": 1}, "{'a': 1}"),
        (None, "None"),
    ],
)
def test_results_become_text(value: Any, text: str) -> None:
    assert result_text(value, 1000) == text


def test_a_long_result_is_cut_with_a_note() -> None:
    text = result_text("x" * 150, 100)
    assert text.startswith("x" * 100 + "\n")
    assert text.endswith("[cut: 50 more characters not shown]")


def test_keys_in_a_result_or_an_error_are_masked() -> None:
    key = "sk-test-SECRET-0123456789abcdef"
    assert key not in result_text(f"env: {key}", 1000, [key])
    assert key not in error_text(RuntimeError(f"bad key {key}"), [key])
    assert error_text(ValueError("no such city"), []) == "error: ValueError: no such city"


def test_pandas_objects_are_a_compact_table_with_their_shape() -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"a": range(100), "b": ["x"] * 100})
    text = result_text(frame, 10_000)
    assert text.startswith("DataFrame (100 x 2)\n")
    assert ".." in text  # rows elided
    assert len(text.splitlines()) < 30
    assert result_text(frame["a"], 10_000).startswith("Series (100)\n")


def test_text_at_the_limit_is_kept_whole_and_one_more_character_is_cut() -> None:
    assert cut("x" * 10, 10) == "x" * 10
    assert cut("x" * 11, 10) == "x" * 10 + "\n… [cut: 1 more characters not shown]"
