"""How long nbstream waits before a retry, from every header servers use to say so; and
what a wait it will not honour does (FAULTS rows 6, 7 and 33)."""

from __future__ import annotations

from typing import Any

import pytest

from nbstream.engine import loop
from nbstream.engine.failures import backoff, duration, retry_after, stated_wait
from nbstream.engine.result import Event, Retrying
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import RateLimitError
from nbstream.settings import Settings

FAR_FUTURE = "Wed, 01 Jan 2999 00:00:00 GMT"
PAST = "Tue, 01 Jan 2002 00:00:00 GMT"


@pytest.mark.parametrize(
    ("value", "scale", "seconds"),
    [
        ("7", 1.0, 7.0),
        ("1.5", 1.0, 1.5),
        ("250", 0.001, 0.25),
        ("-3", 1.0, 0.0),  # never a negative wait
        (PAST, 1.0, 0.0),  # a date already gone: retry now
        (PAST, 0.001, None),  # retry-after-ms holds milliseconds, never a date
        ("soon", 1.0, None),
        ("", 1.0, None),
        (None, 1.0, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value, scale, seconds) -> None:
    assert retry_after(value, scale) == seconds


def test_a_retry_after_date_in_the_future_is_a_long_wait() -> None:
    assert retry_after(FAR_FUTURE, 1.0) > 100 * 365 * 24 * 3600


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("2h3m", 7380.0),
        ("1m30.5s", 90.5),
        ("12", 12.0),
        ("6m0sx", None),
        ("soon", None),
        (None, None),
    ],
)
def test_reset_durations_are_read_as_openai_writes_them(value, seconds) -> None:
    assert duration(value) == seconds


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # the precise one wins
        ({"retry-after": "9", "llm_provider-retry-after": "4"}, 9.0),
        ({"retry-after": "soon", "llm_provider-retry-after": "4"}, 4.0),
        (
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s",
             "x-ratelimit-remaining-tokens": "10", "x-ratelimit-reset-tokens": "6m0s"},
            2.0,
        ),  # only the empty bucket's reset matters
        (
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s",
             "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m"},
            60.0,
        ),  # both empty: wait for the later
        ({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "2s"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_the_stated_wait_comes_from_the_header_that_says_most_precisely(headers, seconds) -> None:
    assert stated_wait(headers) == seconds


def test_without_a_stated_wait_the_back_off_doubles_up_to_eight_seconds() -> None:
    for attempt, middle in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0]):
        waits = [backoff(attempt) for _ in range(50)]
        assert all(0.75 * middle <= wait <= 1.25 * middle for wait in waits)


def rate_limited(settings: Settings, fault_key: str, **options: Any):
    events: list[Event] = []
    params = {"nbstream": {"text": "ok", "fail_status": 429, "key": fault_key, **options}}
    stream = ChatStream(ChatRequest([{"role": "user", "content": "Hi"}], "nbstream-demo", params),
                        settings, events.append)  # fmt: skip
    return stream, events


def test_a_retry_after_longer_than_nbstream_waits_fails_at_once_saying_so(
    settings, log, fault_key
) -> None:
    stream, events = rate_limited(settings, fault_key, retry_after=FAR_FUTURE)
    with pytest.raises(RateLimitError) as raised:
        loop.run(stream.run())
    assert "the server asks to wait " in raised.value.message
    assert raised.value.message.endswith("longer than nbstream waits (60 s)")
    assert len(log.records) == 1 and events == []


def test_a_retry_after_date_already_past_is_retried_at_once(settings, log, fault_key) -> None:
    stream, events = rate_limited(settings, fault_key, retry_after=PAST)
    assert loop.run(stream.run()).text == "ok"
    assert events[0] == Retrying("rate limited", 0.0, 1)
    assert [record.status for record in log.records] == [429, 200]


def test_a_malformed_retry_after_falls_back_to_the_back_off(settings, log, fault_key) -> None:
    stream, events = rate_limited(settings, fault_key, retry_after="soon")
    assert loop.run(stream.run()).text == "ok"
    [retry] = [event for event in events if isinstance(event, Retrying)]
    assert retry.reason == "rate limited" and 0.375 <= retry.wait <= 0.625
