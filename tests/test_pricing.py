"""Cost from the price table, and the session's usage totals."""

from __future__ import annotations

import pytest

from nbstream.engine.result import ChatResult, Timings, Usage
from nbstream.pricing import UsageTotals, cost, price_for


def reply(model: str, prompt: int, completion: int, **changes) -> ChatResult:
    timings = Timings(first_token=0.5, last_token=1.5, total=2.0)
    return ChatResult(model=model, usage=Usage(prompt, completion, prompt + completion),
                      timings=timings, **changes)  # fmt: skip


def test_dated_model_names_match_their_family_by_longest_prefix() -> None:
    assert price_for("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_for("gpt-4o-2024-08-06") == (2.50, 10.00)
    assert price_for("llama3.2") is None
    assert price_for("llama3.2", {"llama3.2": (0.0, 0.0)}) == (0.0, 0.0)


def test_cost_is_none_when_unknown_or_replayed() -> None:
    assert cost(reply("gpt-4o-mini", 1_000_000, 1_000_000)) == pytest.approx(0.75)
    assert cost(reply("mystery", 10, 10)) is None
    assert cost(reply("gpt-4o-mini", 10, 10, replayed=True)) is None


def test_totals_per_model_with_means_and_unknown_cost() -> None:
    totals = UsageTotals()
    totals.add(reply("a", 10, 11), None)
    totals.add(reply("a", 10, 21), None)
    totals.add(reply("gpt-4o-mini", 100, 200), 0.5)
    table = totals.table()
    assert "| a | 2 | 20 | 32 | 4.0 s | 0.50 s | 15.0 | n/a |" in table
    assert "| gpt-4o-mini | 1 | 100 | 200 | 2.0 s | 0.50 s | 199.0 | &#36;0.5000 |" in table
