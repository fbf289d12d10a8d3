"""How long nbstream waits before a retry, from every header servers use to say so; and
what a wait it will not honour does (FAULTS rows 6, 7 and 33)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx2
import openai
import pytest

from nbstream.engine import loop
from nbstream.engine.failures import backoff, duration, retry_after, stated_wait, translate
from nbstream.engine.result import Event, Retrying
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import (
    AuthError,
    ConnectError,
    ModelNotFoundError,
    NbStreamError,
    RateLimitError,
    RequestError,
)
from nbstream.settings import Api, Settings, resolve

from .conftest import SECRET_KEY

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


def test_an_in_band_rate_limit_is_waited_out_like_a_429(settings, log, fault_key) -> None:
    stream, events = rate_limited(settings, fault_key, fail_in_band=True)
    assert loop.run(stream.run()).text == "ok"
    [retry] = [event for event in events if isinstance(event, Retrying)]
    assert (retry.reason, retry.attempt) == ("rate limited", 1) and 0.375 <= retry.wait <= 0.625
    assert len(log.records) == 2


# ---- what each refusal says: one line naming status, host and the server's message, one hint


def refused(settings: Settings, fault_key: str, model: str = "nbstream-demo", **options: Any):
    """The error a request fails with, the server asked to refuse it as `options` say."""
    params = {"nbstream": {"text": "ok", "key": fault_key, **options}}
    stream = ChatStream(ChatRequest([{"role": "user", "content": "Hi"}], model, params), settings)
    with pytest.raises(NbStreamError) as raised:
        loop.run(stream.run())
    return raised.value


AUTH_HINT = "check OPENAI_API_KEY (or the key you passed)"
REJECTED = "the server rejected a parameter of the request"


@pytest.mark.parametrize(
    ("status", "kind", "hint"),
    [
        (401, AuthError, AUTH_HINT),
        (403, AuthError, AUTH_HINT),
        (400, RequestError, REJECTED),
        (409, RequestError, REJECTED),
        (413, RequestError, "the prompt is too long: shorten it"),
        (422, RequestError, REJECTED),
    ],
)
def test_a_refusal_is_one_line_naming_status_host_and_message_with_a_hint(
    settings, log, fault_key, status, kind, hint
) -> None:
    err = refused(settings.with_(max_retries=0), fault_key, fail_status=status)
    assert type(err) is kind and err.status == status
    assert err.message == f"{status} from {settings.host}: Offline fault: HTTP {status}."
    assert err.hint == hint
    assert len(log.records) == 1


def test_a_server_failing_every_retry_says_so_and_how_many_attempts(
    settings, log, fault_key
) -> None:
    err = refused(settings, fault_key, fail_status=500, fail_times=9)
    assert type(err) is ConnectError
    assert err.message == (
        f"500 from {settings.host} after 3 attempts: "
        "The server had an error while processing your request."
    )
    assert err.hint == "the server is failing; try again later"
    assert [record.status for record in log.records] == [500, 500, 500]


def test_a_rate_limit_past_the_retries_asks_to_wait(settings, log, fault_key) -> None:
    err = refused(settings.with_(max_retries=1), fault_key, fail_status=429, fail_times=9,
                  retry_after="0")  # fmt: skip
    assert type(err) is RateLimitError and err.status == 429
    assert err.message == (
        f"429 from {settings.host} after 2 attempts: "
        "Rate limit reached, retry after 0 s (offline fault)."
    )
    assert err.hint == "wait and retry, or lower the request rate"


def test_an_in_band_rate_limit_past_the_retries_asks_to_wait(settings, log, fault_key) -> None:
    err = refused(settings.with_(max_retries=1), fault_key, fail_status=429, fail_in_band=True,
                  fail_times=9)  # fmt: skip
    assert type(err) is RateLimitError and err.status == 429
    assert err.message.startswith(f"rate limited by {settings.host} after 2 attempts: ")
    assert fault_key not in err.message
    assert err.hint == "wait and retry, or lower the request rate"
    assert len(log.records) == 2


def test_a_404_unknown_model_lists_the_models_and_says_how_to_choose(settings) -> None:
    err = refused(settings, "unused", model="no-such-model")
    assert type(err) is ModelNotFoundError and err.status == 404
    assert err.message.startswith(f"404 from {settings.host}: ")
    assert "nbstream-demo" in err.models
    offered = ", ".join(err.models[:30])  # a long list is cut at 30 names
    assert err.hint == f"this server offers: {offered}; choose one with -m NAME"


@pytest.mark.parametrize("dialect", ["litellm", "openrouter"])
def test_an_unknown_model_answered_with_400_is_an_unknown_model(settings, dialect) -> None:
    err = refused(settings, "unused", model="no-such-model", unknown_as=dialect)
    assert type(err) is ModelNotFoundError and err.status == 400
    assert "nbstream-demo" in err.models and err.hint.endswith("; choose one with -m NAME")


def test_a_base_url_without_v1_is_told_to_add_it(settings, log) -> None:
    root = settings.base_url.removesuffix("/v1")
    err = refused(settings.with_(base_url=root), "unused")
    assert type(err) is RequestError and err.status == 404
    assert err.hint == f"the base URL has no path: try OPENAI_BASE_URL={root}/v1"


def test_a_model_served_only_on_responses_says_which_api_to_use(settings) -> None:
    err = refused(settings.with_(api=Api.CHAT), "unused", model="fault-responses-only")
    assert type(err) is RequestError and err.status == 404
    assert err.hint == "the model is served on /v1/responses only: use --api responses or auto"


# ---- the waits servers ask for, end to end


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "20", "Retry-After": "30"}, 0.02),
        ({"llm_provider-retry-after": "0.05"}, 0.05),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "30ms"}, 0.03),
    ],
)
def test_a_429_is_retried_after_the_wait_its_headers_state(
    settings, log, fault_key, headers, wait
) -> None:
    stream, events = rate_limited(settings, fault_key, fail_headers=headers)
    assert loop.run(stream.run()).text == "ok"
    assert [e for e in events if isinstance(e, Retrying)] == [Retrying("rate limited", wait, 1)]
    assert [record.status for record in log.records] == [429, 200]


def test_a_retry_after_date_a_moment_ahead_is_waited_for(settings, log, fault_key) -> None:
    soon = email.utils.formatdate(time.time() + 4, usegmt=True)
    stream, events = rate_limited(settings, fault_key, retry_after=soon)
    assert loop.run(stream.run()).text == "ok"
    [retry] = [event for event in events if isinstance(event, Retrying)]
    assert 0.0 < retry.wait <= 4.0  # whole seconds: at most 4 s ahead, and still ahead


# ---- before any byte: what the user is told about the connection


def connect_failure(settings: Settings, cause: BaseException, attempts: int = 1) -> NbStreamError:
    """The error for the SDK's connection error caused by `cause` (as httpx raises it)."""
    request = httpx2.Request("POST", f"{settings.base_url}/chat/completions")
    err = openai.APIConnectionError(request=request)
    err.__cause__ = cause
    return loop.run(translate(err, settings, attempts))


@pytest.mark.parametrize(
    ("url", "said", "hint"),
    [
        ("http://localhost:8000/v1", "[Errno 111] Connection refused",
         "is the server running? check OPENAI_BASE_URL / NBSTREAM_BASE_URL"),
        ("http://[::1]:8000/v1", "[Errno 111] Connection refused",
         "is the server running? check OPENAI_BASE_URL / NBSTREAM_BASE_URL"),
        ("https://llm.example.com/v1", "[Errno -2] Name or service not known",
         "cannot resolve llm.example.com: is there a network and DNS here? (a proxy: HTTPS_PROXY)"),
        ("https://llm.example.com/v1", "getaddrinfo failed",
         "cannot resolve llm.example.com: is there a network and DNS here? (a proxy: HTTPS_PROXY)"),
        ("https://llm.example.com/v1", "[Errno 113] No route to host",
         "is there a network route to llm.example.com? check the connection (and HTTPS_PROXY)"),
    ],
)  # fmt: skip
def test_a_connection_failure_names_the_url_the_cause_and_what_to_check(url, said, hint) -> None:
    settings = resolve(base_url=url, api_key=SECRET_KEY, environ={})
    err = connect_failure(settings, OSError(said))
    assert type(err) is ConnectError
    assert err.message == f"cannot connect to {url}: {said}"
    assert err.hint == hint


def test_a_connection_failure_after_retries_counts_them_and_hides_the_key() -> None:
    settings = resolve(base_url="http://localhost:8000/v1", api_key=SECRET_KEY, environ={})
    err = connect_failure(settings, OSError(f"proxy said {SECRET_KEY}"), attempts=3)
    assert (
        err.message
        == "cannot connect to http://localhost:8000/v1 after 3 attempts: proxy said sk-…cdef"
    )
    assert str(connect_failure(settings, ConnectionResetError())).startswith(
        "cannot connect to http://localhost:8000/v1: ConnectionResetError\n"
    )  # a cause without words is named by its type


def test_the_azure_endpoint_is_the_host_a_connection_hint_names() -> None:
    settings = resolve(api_key=SECRET_KEY, environ={})
    settings = settings.with_(azure_endpoint="https://res.openai.azure.com", base_url=None)
    err = connect_failure(settings, OSError("Name or service not known"))
    assert err.hint.startswith("cannot resolve res.openai.azure.com:")


def test_a_connect_timeout_states_both_timeouts_and_the_setting() -> None:
    settings = resolve(base_url="http://10.9.9.9/v1", api_key=SECRET_KEY, environ={},
                       connect_timeout=2.5, idle_timeout=30)  # fmt: skip
    request = httpx2.Request("POST", "http://10.9.9.9/v1/chat/completions")
    err = loop.run(translate(openai.APITimeoutError(request=request), settings, 2))
    assert type(err) is ConnectError
    assert err.message == "timed out connecting to 10.9.9.9 after 2 attempts"
    assert err.hint == (
        "is the server up? timeouts: connect 2.5 s, idle 30 s (NbStream.connect_timeout)"
    )


def test_a_refused_connection_is_retried_then_named_with_its_url(settings) -> None:
    dead = settings.with_(base_url="http://127.0.0.1:9/v1", max_retries=1)
    err = refused(dead, "unused")
    assert type(err) is ConnectError
    assert err.message.startswith("cannot connect to http://127.0.0.1:9/v1 after 2 attempts: ")
    assert err.hint == "is the server running? check OPENAI_BASE_URL / NBSTREAM_BASE_URL"


@pytest.mark.parametrize("status", [400, 422])
def test_a_server_refusing_stream_options_is_asked_again_without(settings, log, status) -> None:
    params = {"nbstream": {"text": "ok", "reject_status": status}}
    request = ChatRequest(
        [{"role": "user", "content": "Hi"}], "fault-reject-stream-options", params
    )
    stream = ChatStream(request, settings)
    assert loop.run(stream.run()).text == "ok"
    assert [record.status for record in log.records] == [status, 200]
