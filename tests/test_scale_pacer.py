"""The pacer without a server: concurrency search, rate limits, x-ratelimit budgets (FAULTS 33)."""

from __future__ import annotations

import random

from nbstream.scale.pacer import AUTO_START, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def served(
    pacer: Pacer,
    capacity: int,
    rounds: int,
    service: float = 1.0,
    *,
    waves: bool = False,
    spread: float = 0.0,
) -> list[int]:
    """Simulate a server doing `capacity` requests at once, each `service` s, queueing the rest:
    each round every request started at the current limit finishes; the limits seen.

    Smooth by default: every request waits its share of the queue. With `waves`, replies of one
    pace start and end together, so those that queue wait a whole service and the rest none (as
    the offline server's do). `spread` scatters each request's time by up to that fraction."""
    noise = random.Random(7)
    seen = []
    for _ in range(rounds):
        limit = pacer.allowed
        epoch = pacer.epoch
        queued = min(max(limit - capacity, 0), capacity)
        for number in range(limit):
            if waves:
                latency = service * (2.0 if number < queued else 1.0)
            else:
                latency = service * max(1.0, limit / capacity)
            pacer.finished(epoch, latency * (1 + noise.uniform(-spread, spread)), 100)
        seen.append(pacer.allowed)
    return seen


def test_auto_finds_the_concurrency_a_server_sustains_within_a_fifth() -> None:
    for capacity in (10, 32, 100):
        seen = served(Pacer("auto"), capacity, 60)
        assert all(0.8 * capacity <= limit <= 1.2 * capacity for limit in seen[-20:]), seen


def test_auto_sees_a_queue_that_delays_only_some_replies() -> None:
    # A queue of a few replies in 32 leaves most replies unqueued: a quantile misses it.
    seen = served(Pacer("auto"), 32, 60, waves=True)
    assert all(0.8 * 32 <= limit <= 1.2 * 32 for limit in seen[-20:]), seen


def test_auto_holds_its_course_when_each_reply_takes_a_third_more_or_less() -> None:
    for capacity in (10, 32, 100):
        seen = served(Pacer("auto"), capacity, 80, spread=0.3)
        assert all(0.8 * capacity <= limit <= 1.2 * capacity for limit in seen[-20:]), seen


def test_auto_starts_small_and_doubles_each_round_of_enough_replies_while_nothing_queues() -> None:
    pacer = Pacer("auto")
    # At the start a round is two of its replies: a mean of fewer than eight says little.
    assert served(pacer, 1000, 5) == [AUTO_START, AUTO_START * 2, AUTO_START * 4, 32, 64]


def test_a_fixed_concurrency_is_never_searched() -> None:
    pacer = Pacer(5)
    assert served(pacer, 1, 10) == [5] * 10


def test_a_rate_limit_halves_once_a_round_and_holds_every_start_for_its_wait() -> None:
    clock = Clock()
    pacer = Pacer(16, clock=clock)
    epoch = pacer.started(10)
    pacer.rate_limited(2.0, epoch)
    pacer.rate_limited(2.0, epoch)  # a second answer of the same round
    assert pacer.allowed == 8 and pacer.delay(10) == 2.0
    clock.now += 2.5
    assert pacer.delay(10) == 0.0


def test_a_fixed_limit_regrows_by_one_a_success_up_to_where_it_started() -> None:
    pacer = Pacer(4)
    pacer.rate_limited(0.0, pacer.epoch)
    grown = []
    for _ in range(3):
        pacer.finished(pacer.epoch, 1.0, 10)
        grown.append(pacer.allowed)
    assert grown == [3, 4, 4]


def test_headers_saying_no_requests_left_hold_starts_until_the_reset() -> None:
    clock = Clock()
    pacer = Pacer(8, clock=clock)
    pacer.headers({"x-ratelimit-remaining-requests": "2",
                   "x-ratelimit-reset-requests": "1.5s"}, in_flight=1)  # fmt: skip
    assert pacer.delay(10) == 0.0
    pacer.started(10)
    pacer.started(10)
    assert pacer.delay(10) == 1.5
    clock.now += 1.5
    assert pacer.delay(10) == 0.0


def test_a_token_budget_smaller_than_a_request_waits_for_its_reset() -> None:
    clock = Clock()
    pacer = Pacer(8, clock=clock)
    pacer.headers({"x-ratelimit-remaining-tokens": "500",
                   "x-ratelimit-reset-tokens": "6m0s"}, in_flight=1)  # fmt: skip
    assert pacer.delay(400) == 0.0
    pacer.started(400)
    assert pacer.delay(400) == 360.0


def test_malformed_rate_limit_headers_are_ignored() -> None:
    pacer = Pacer(8)
    pacer.headers({"x-ratelimit-remaining-requests": "lots",
                   "x-ratelimit-reset-requests": "soon"}, in_flight=1)  # fmt: skip
    assert pacer.delay(10) == 0.0


def test_a_sample_without_time_says_nothing_about_the_server() -> None:
    pacer = Pacer("auto")
    served(pacer, 1000, 2)
    before = pacer.allowed
    for _ in range(before):
        pacer.finished(pacer.epoch, 0.0, 0)  # a reply replayed or failed before sending
    assert pacer.allowed == before and pacer.base is not None and pacer.base > 0
