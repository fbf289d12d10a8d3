"""Before a run starts: each item's request key, and the tokens and cost to expect.

Completion tokens come from `max_tokens` (or `max_completion_tokens`) when given, else from a
stated assumption, `ASSUMED_COMPLETION`; prompt tokens from nbstream's local estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.result import OFFLINE_BACKEND, ChatResult, Usage, estimate_tokens
from ..errors import ConfigError
from ..session import Session
from ..settings import Settings
from ..store.cache_key import CacheRequest, cache_host
from ..turn import TurnOptions
from .jobs import Job

#: Completion tokens assumed for an item when the request sets no `max_tokens`.
ASSUMED_COMPLETION = 256


@dataclass(frozen=True)
class Estimate:
    """Tokens and cost expected of a run (cost None when the model's price is unknown)."""

    items: int
    prompt_tokens: int
    completion_tokens: int
    assumed: bool  # completion tokens are the assumption, not max_tokens
    cost: float | None

    @property
    def tokens_each(self) -> int:
        """Prompt and completion tokens expected of one item."""
        return (self.prompt_tokens + self.completion_tokens) // max(self.items, 1)

    @property
    def cost_each(self) -> float | None:
        """Dollars expected of one item, at most."""
        return None if self.cost is None else self.cost / max(self.items, 1)

    def line(self) -> str:
        """'estimate: ~1200 prompt + ≤25600 completion tokens, ~$0.0123' and the assumption."""
        bound = "~" if self.assumed else "≤"
        money = f", ~${self.cost:.4f}" if self.cost is not None else ", price unknown"
        said = (
            f" (assuming {ASSUMED_COMPLETION} a reply: pass max_tokens to bound it)"
            if self.assumed
            else ""
        )
        return (
            f"estimate: ~{self.prompt_tokens} prompt + {bound}{self.completion_tokens} "
            f"completion tokens{money}{said}"
        )


def messages_for(session: Session, options: TurnOptions, prompt: str) -> list[dict[str, Any]]:
    """What a one-off turn sends: the system prompt (given, or the thread's), then `prompt`."""
    system = options.system
    if system is None:
        system = session.store.thread(options.thread).system
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": prompt}]


def request_keys(
    session: Session, options: TurnOptions, settings: Settings, jobs: Sequence[Job]
) -> list[str]:
    """Each item's request key (the response cache's): server, model, messages, parameters."""
    host = cache_host(settings)
    return [
        CacheRequest(host, settings.model, messages_for(session, options, job.prompt),
                     dict(options.params)).key
        for job in jobs
    ]  # fmt: skip


def estimate(
    session: Session,
    options: TurnOptions,
    settings: Settings,
    jobs: Sequence[Job],
    price_factor: float = 1.0,
) -> Estimate:
    """The tokens and cost `jobs` should take (items from the record are not counted)."""
    params = options.params
    stated = params.get("max_tokens") or params.get("max_completion_tokens")
    each = int(stated) if isinstance(stated, int | float) and stated > 0 else ASSUMED_COMPLETION
    prompt = sum(
        sum(
            estimate_tokens(str(m["content"])) + 3 for m in messages_for(session, options, j.prompt)
        )
        for j in jobs
    )
    completion = each * len(jobs)
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
    backend = OFFLINE_BACKEND if settings.offline else settings.host
    priced = session.cost(ChatResult(model=settings.model, usage=usage, backend=backend))
    cost = None if priced is None else priced * price_factor
    return Estimate(len(jobs), prompt, completion, stated is None, cost)


def check_budget(estimate: Estimate, max_cost: float | None, model: str) -> None:
    """A `max_cost` needs a known price: a one-line error before any request otherwise."""
    if max_cost is not None and estimate.cost is None and estimate.items:
        raise ConfigError(
            f"max_cost needs a price, and nbstream knows none for {model!r}",
            f"give one: %config NbStream.prices = {{{model!r}: [input, output]}} "
            "(dollars per 1M tokens), or drop max_cost",
        )
