"""How many requests run at once, and when the next may start: a pure object with a clock.

Three signals, strongest first:
- a rate limit (429, or an in-band `rate_limit_exceeded`): halve the concurrency and start
  nothing until the server's stated wait has passed;
- `x-ratelimit-remaining-*` / `x-ratelimit-reset-*` headers: a budget of requests and tokens
  until the reset, so a cloud API is paced before it answers 429;
- latency (for `concurrency="auto"`): TCP Vegas's estimate of the requests queued at the server,
  `limit * (1 - base / latency)`, with a round's mean latency per token (by Little's law the
  mean carries the queue whether it delays every request a little or some requests a whole
  reply) and `base` the lowest round mean seen, raised by two standard errors so that one lucky
  round of a noisy server does not set it. The limit doubles until a clear queue shows (slow
  start), then grows by one a round and drops to one above what the server holds when a queue
  shows, so a self-hosted server stays busy without a growing queue. A fixed concurrency is
  never searched: after a rate limit it regrows by one a success up to where it started.

A round is the completions of requests started since the last change of the limit (its epoch):
older requests say nothing about the new limit. It takes half the limit, and at least
`ROUND_LEAST` of them, so its mean says something.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..engine.failures import duration

#: Where `concurrency="auto"` starts and the most it ever tries.
AUTO_START, AUTO_CEILING = 4, 256
#: Queued requests (as a share of the limit) below which it grows, above which it shrinks.
GROW_BELOW, SHRINK_ABOVE = 0.05, 0.15
#: The fewest completions that make a round.
ROUND_LEAST = 8


@dataclass
class _Budget:
    """What the server's headers allow until `until` (a clock time)."""

    left: float
    until: float


class Pacer:
    """Concurrency and start times for one run; called on nbstream's loop thread only."""

    def __init__(
        self, concurrency: int | str = "auto", *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.auto = concurrency == "auto"
        start = AUTO_START if self.auto else int(concurrency)
        self.ceiling = AUTO_CEILING if self.auto else max(1, start)
        self.limit = float(max(1, start))
        self.clock = clock
        self.epoch = 0  # bumped when the limit changes
        self.slow_start = self.auto
        self.base: float | None = None  # lowest round mean (+2 s.e.), seconds per token
        self._round: list[float] = []
        self._hold_until = 0.0
        self._budgets: dict[str, _Budget] = {}

    @property
    def allowed(self) -> int:
        """How many requests may be in flight now."""
        return max(1, int(self.limit))

    def delay(self, tokens: int) -> float:
        """Seconds before a request of about `tokens` tokens may start (0: now)."""
        now = self.clock()
        waits = [self._hold_until - now]
        for name, need in (("requests", 1), ("tokens", tokens)):
            budget = self._budgets.get(name)
            if budget is not None and now >= budget.until:
                del self._budgets[name]
            elif budget is not None and budget.left < need:
                waits.append(budget.until - now)
        return max(0.0, *waits)

    def started(self, tokens: int) -> int:
        """A request of about `tokens` tokens starts; returns its epoch."""
        for name, spent in (("requests", 1), ("tokens", tokens)):
            if name in self._budgets:
                self._budgets[name].left -= spent
        return self.epoch

    def headers(self, headers: Mapping[str, str], in_flight: int) -> None:
        """A response's `x-ratelimit-*` headers: the budget left until each reset."""
        now = self.clock()
        for name in ("requests", "tokens"):
            left = _number(headers.get(f"x-ratelimit-remaining-{name}"))
            reset = duration(headers.get(f"x-ratelimit-reset-{name}"))
            if left is not None and reset is not None:
                # The count was taken when this response began; the others in flight since
                # have spent some of it (at most one each: an estimate, on the safe side).
                spent = max(in_flight - 1, 0) * (1 if name == "requests" else 0)
                self._budgets[name] = _Budget(left - spent, now + reset)

    def rate_limited(self, wait: float, epoch: int) -> None:
        """A request of `epoch` was refused for rate: hold every start for `wait` s, and halve
        the limit unless it was already lowered since that request started (once a round)."""
        self.slow_start = False
        self._hold_until = max(self._hold_until, self.clock() + wait)
        if epoch == self.epoch:
            self._set(max(1.0, self.limit / 2))

    def finished(self, epoch: int, seconds: float, tokens: int) -> None:
        """A request of this epoch succeeded in `seconds` with `tokens` completion tokens."""
        if not self.auto:
            if self.limit < self.ceiling:  # regrow by one a success after a rate limit
                self._set(min(float(self.ceiling), self.limit + 1))
            return
        if epoch != self.epoch or seconds <= 0:
            return
        self._round.append(seconds / max(tokens, 1))
        if len(self._round) >= max(ROUND_LEAST, self.allowed // 2):
            mean = statistics.fmean(self._round)
            error = statistics.stdev(self._round) / len(self._round) ** 0.5
            self._adjust(mean, error)

    def _adjust(self, latency: float, error: float) -> None:
        floor = latency + 2 * error
        self.base = floor if self.base is None else min(self.base, floor)
        queued = self.limit * (1 - self.base / latency) if latency > 0 else 0.0
        shrink_above = max(2.0, SHRINK_ABOVE * self.limit)
        # Slow start ends only on a clear queue: one noisy round would stop it far too early.
        if queued <= max(0.5, GROW_BELOW * self.limit) or (
            self.slow_start and queued <= shrink_above
        ):
            grown = self.limit * 2 if self.slow_start else self.limit + 1
            self._set(min(float(self.ceiling), grown))
        elif queued > shrink_above:
            self.slow_start = False
            # One more than the server holds, so it never idles while a reply is in transit.
            self._set(max(1.0, round(self.limit - queued) + 1.0))
        else:
            self.slow_start = False
            self._round.clear()  # steady: the next round judges the same limit afresh

    def _set(self, limit: float) -> None:
        self.limit = limit
        self.epoch += 1
        self._round.clear()


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None
