"""Cost from the server, the configured prices or the genai-prices database (offline), and the
session's usage totals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nbstream.engine.result import ChatResult, Timings, Usage
from nbstream.pricing import UsageTotals, cost, price_for


def reply(model: str, prompt: int, completion: int, **changes) -> ChatResult:
    timings = Timings(first_token=0.5, last_token=1.5, total=2.0)
    return ChatResult(model=model, usage=Usage(prompt, completion, prompt + completion),
                      timings=timings, **changes)  # fmt: skip


def test_configured_prices_match_dated_names_by_longest_prefix() -> None:
    prices = {"my-model": (1.0, 2.0), "my-model-mini": (0.1, 0.2)}
    assert price_for("my-model-mini-2025-01-01", prices) == (0.1, 0.2)
    assert price_for("my-model-2025", prices) == (1.0, 2.0)
    assert price_for("llama3.2", prices) is None
    assert cost(reply("gpt-4o-mini", 10**6, 0), {"gpt-4o-mini": (9.0, 9.0)}) == pytest.approx(9.0)


def test_the_price_database_knows_dated_names_and_cached_tokens() -> None:
    plain = cost(reply("gpt-4o-mini-2024-07-18", 1_000_000, 0, backend="api.openai.com"))
    assert plain == pytest.approx(0.15)
    cached = reply("gpt-4o-mini", 1_000_000, 0, backend="api.openai.com")
    cached = replace(cached, usage=replace(cached.usage, cached_tokens=1_000_000))
    assert cost(cached) == pytest.approx(0.075)  # cache reads at half price


def test_a_cost_the_server_reports_wins_and_local_models_cost_nothing() -> None:
    reported = reply("gpt-4o", 10, 10, backend="openrouter.ai")
    assert cost(replace(reported, usage=replace(reported.usage, cost=0.25))) == 0.25
    assert cost(reply("gpt-4o", 10**6, 10**6, backend="localhost:11434")) is None
    assert cost(reply("gpt-4o", 10**6, 10**6, backend="offline demo")) is None


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
