"""A Python value as prompt context: its own text for the model, a table, an image, or text."""

from __future__ import annotations

from nbstream.context.values import bounded, describe


class ForModels:
    def _repr_llm_(self) -> str:
        return "the model's view"

    def _repr_markdown_(self) -> str:
        return "**markdown**"


class Marked:
    def _repr_markdown_(self) -> tuple[str, dict]:
        return ("**markdown**", {})


def test_repr_llm_then_markdown_then_str() -> None:
    assert describe(ForModels(), 100, 512).text == "the model's view"
    assert describe(Marked(), 100, 512).text == "**markdown**"
    assert describe(12.5, 100, 512).text == "12.5"
    assert describe(ForModels, 100, 512).kind == "text"  # the class itself is just its str


def test_a_string_is_sent_whole_and_other_text_is_bounded() -> None:
    long = "x" * 10_000
    assert describe(long, 10, 512).text == long
    cut = bounded(long, 10)
    assert cut == "x" * 40 + "\n… (left out: 9,960 of 10,000 characters)"
    assert bounded("short", 10) == "short"
