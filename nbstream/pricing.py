"""What a reply cost, from a small built-in price table; and the session's usage totals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .engine.result import ChatResult
from .show.markdown import literal

#: US dollars per million tokens (input, output), from OpenAI's public price list.
PRICES_TAKEN = "2025-06"
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}


def price_for(model: str, extra: Mapping[str, tuple[float, float]] | None = None):
    """(input, output) dollars per 1M tokens, matching dated names by their longest prefix."""
    table = {**PRICES, **(extra or {})}
    matches = [name for name in table if model == name or model.startswith(name + "-")]
    return table[max(matches, key=len)] if matches else None


def cost(
    result: ChatResult, extra: Mapping[str, tuple[float, float]] | None = None
) -> float | None:
    """The reply's cost in dollars, or None when the model's price is unknown or it was replayed."""
    price = price_for(result.model, extra)
    if price is None or result.replayed:
        return None
    usage = result.usage
    return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000


@dataclass
class ModelTotals:
    """One model's totals over a session."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    ttft_sum: float = 0.0
    ttft_count: int = 0
    decode_tokens: int = 0
    decode_seconds: float = 0.0
    cost: float | None = None  # None until a reply with a known price
    estimated: bool = False

    def add(self, result: ChatResult, price: float | None) -> None:
        """Count one reply."""
        self.requests += 1
        self.prompt_tokens += result.usage.prompt_tokens
        self.completion_tokens += result.usage.completion_tokens
        self.seconds += result.timings.total
        self.estimated |= result.usage.estimated
        timings = result.timings
        if timings.first_token is not None:
            self.ttft_sum += timings.first_token
            self.ttft_count += 1
        if timings.first_token is not None and timings.last_token is not None:
            self.decode_tokens += max(result.usage.completion_tokens - 1, 0)
            self.decode_seconds += timings.last_token - timings.first_token
        if price is not None:
            self.cost = (self.cost or 0.0) + price


class UsageTotals:
    """Per-model totals for this session; replayed replies are counted apart."""

    def __init__(self) -> None:
        self.models: dict[str, ModelTotals] = {}

    def add(self, result: ChatResult, price: float | None) -> None:
        """Count one reply under its model."""
        name = result.model + (" (replayed)" if result.replayed else "")
        self.models.setdefault(name, ModelTotals()).add(result, price)

    def table(self) -> str:
        """A Markdown table: requests, tokens, time, mean TTFT, mean tokens/s, cost."""
        rows = [
            "| model | requests | prompt | completion | time | mean first token | tok/s | cost |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, t in self.models.items():
            ttft = f"{t.ttft_sum / t.ttft_count:.2f} s" if t.ttft_count else "n/a"
            speed = f"{t.decode_tokens / t.decode_seconds:.1f}" if t.decode_seconds > 0 else "n/a"
            mark = "≈" if t.estimated else ""
            dollars = f"${t.cost:.4f}" if t.cost is not None else "n/a"
            rows.append(
                f"| {literal(name)} | {t.requests} | {mark}{t.prompt_tokens} | "
                f"{mark}{t.completion_tokens} | {t.seconds:.1f} s | {ttft} | {speed} | "
                f"{literal(dollars)} |"
            )
        return "\n".join(rows) if self.models else "No requests yet in this session."
