"""What a reply cost, from the `genai-prices` database (offline, per provider and model,
cached-token prices included) or `NbStream.prices`; and the session's usage totals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .engine.result import ChatResult, local_backend
from .show.markdown import literal


def price_for(
    model: str, extra: Mapping[str, tuple[float, float]] | None = None
) -> tuple[float, float] | None:
    """A configured (input, output) price in dollars per 1M tokens, matching dated names by
    their longest prefix; None when `NbStream.prices` does not name the model."""
    table = dict(extra or {})
    matches = [name for name in table if model == name or model.startswith(name + "-")]
    return table[max(matches, key=len)] if matches else None


def cost(
    result: ChatResult, extra: Mapping[str, tuple[float, float]] | None = None
) -> float | None:
    """The reply's cost in dollars: what the server reported, else from the configured price,
    else from the price database; None when the price is unknown or the reply was replayed."""
    if result.replayed:
        return None
    usage = result.usage
    if usage.cost is not None:
        return usage.cost
    price = price_for(result.model, extra)
    if price is not None:
        return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000
    if local_backend(result.backend) and result.backend:
        return None  # a model on this machine costs nothing, whatever its name
    return _listed_cost(result)


def _listed_cost(result: ChatResult) -> float | None:
    # Imported on first use: loading the price data takes about 15 ms, a lookup about 2 ms.
    from genai_prices import Usage, calc_price

    usage = result.usage
    # Reasoning tokens are inside the output tokens and priced as output, as providers bill.
    tokens = Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                   cache_read_tokens=usage.cached_tokens or 0)  # fmt: skip
    # The server's host names the provider; a proxy's (LiteLLM) does not, so then the model does.
    for url in (f"https://{result.backend}", None) if result.backend else (None,):
        try:
            return float(calc_price(tokens, result.model, provider_api_url=url).total_price)
        except LookupError:
            continue
    return None


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
