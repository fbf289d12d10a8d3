"""How long nbstream waits before a retry, from every header servers use to say so; and
what a wait it will not honour does (FAULTS rows 6, 7 and 33)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx2
import openai
import pytest

from nbstream.engine import failures, loop
from nbstream.engine.failures import (
    _lacks_v1,
    as_sdk_error,
    backoff,
    duration,
    rejects_stream_options,
    responses_only,
    retry_after,
    server_message,
    short_cause,
    stated_wait,
    translate,
    unknown_model,
    wait_to_retry,
)
from nbstream.engine.result import Event, Retrying
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import (
    AuthError,
    ConnectError,
    ModelNotFoundError,
    NbStreamError,
    RateLimitError,
    ReplyTimeoutError,
    RequestError,
)
from nbstream.settings import Api, Settings, resolve

from .conftest import HANG, SECRET_KEY, eventually

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
    assert err.message.startswith(f"404 from {settings.host}: ")
    assert err.hint == f"the base URL has no path: try OPENAI_BASE_URL={root}/v1"


def test_a_model_served_only_on_responses_says_which_api_to_use(settings) -> None:
    err = refused(settings.with_(api=Api.CHAT), "unused", model="fault-responses-only")
    assert type(err) is RequestError and err.status == 404
    assert err.message.startswith(f"404 from {settings.host}: ")
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
    # 30 s ahead (whole seconds: 29 to 30), more than HANG: the date is still well ahead
    # however late a busy machine parses it. The test cancels the wait, not waits it out.
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    stream, events = rate_limited(settings, fault_key, retry_after=soon)
    job = loop.submit(stream.run())
    assert eventually(lambda: any(isinstance(event, Retrying) for event in events))
    assert job.cancel(grace=HANG)
    [retry] = [event for event in events if isinstance(event, Retrying)]
    assert 1.0 < retry.wait <= 30.0  # the date's wait, not the first back-off (0.5 s)
    assert [record.status for record in log.records] == [429]  # waiting, not retrying at once


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


# ---- the pure parts, value by value


def status_error(
    status: int,
    message: str = "Error",
    body: object = None,
    text: str = "",
    headers: dict[str, str] | None = None,
) -> openai.APIStatusError:
    """The SDK's error for a `status` answer with this body, text and headers."""
    request = httpx2.Request("POST", "http://llm.example.com/v1/chat/completions")
    response = httpx2.Response(status, request=request, text=text, headers=headers)
    return openai.APIStatusError(message, response=response, body=body)  # fmt: skip


def test_only_http_library_errors_become_the_sdks() -> None:
    request = httpx2.Request("POST", "http://llm.example.com/v1/chat/completions")
    plain = ValueError("boom")
    assert as_sdk_error(plain, request) is plain
    for module in ("httpx._transports", "httpx2._exceptions", "httpcore._exceptions"):
        cause = type("ConnectError", (Exception,), {"__module__": module})("refused here")
        err = as_sdk_error(cause, request)
        assert type(err) is openai.APIConnectionError
        assert (err.message, err.request) == ("refused here", request)
    timeout = type("ReadTimeout", (Exception,), {"__module__": "httpcore._exceptions"})()
    err = as_sdk_error(timeout, request)
    assert type(err) is openai.APITimeoutError and err.request is request


def test_which_statuses_and_bodies_say_what() -> None:
    assert rejects_stream_options(status_error(400, "Bad", {"param": "stream_options"}))
    assert not rejects_stream_options(status_error(401, "Bad", {"param": "stream_options"}))
    only = "o1-pro is only supported in v1/responses"
    assert responses_only(status_error(400, only)) and responses_only(status_error(404, only))
    assert not responses_only(status_error(401, only))
    assert not unknown_model(status_error(404, only))
    assert unknown_model(status_error(400, "Error code: 400", {"message": "no such model"}))
    assert not unknown_model(status_error(400, "Error code: 400", {"message": "bad input"}))


def test_the_back_off_jitter_spans_a_quarter_either_side() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(failures.random, "random", lambda: 0.0)
        assert backoff(0) == 0.375
        patch.setattr(failures.random, "random", lambda: 1.0)
        assert backoff(0) == 0.625 and backoff(9) == 10.0


def test_the_server_message_is_the_bodys_then_the_responses_then_the_sdks() -> None:
    settings = resolve(base_url="http://llm.example.com/v1", api_key=SECRET_KEY, environ={})

    def said(err: openai.APIStatusError) -> str:
        return server_message(err, settings)

    assert said(status_error(400, "sdk", {"error": {"message": "inner  words"}}, "text")) == (
        "inner words"
    )
    assert said(status_error(400, "sdk", {"error": "plain words"}, "text")) == "plain words"
    assert said(status_error(400, "sdk", {"message": "flat"}, "text")) == "flat"
    assert said(status_error(400, "sdk", "not a dict", "the\ntext")) == "the text"
    assert said(status_error(400, "sdk", None, "")) == "sdk"
    assert said(status_error(400, "sdk", {"message": f"key {SECRET_KEY}"})) == "key sk-…cdef"
    assert said(status_error(400, "sdk", {"message": "x" * 400})) == "x" * 300


def test_the_short_cause_names_the_status_or_the_failed_connection() -> None:
    settings = resolve(base_url="http://llm.example.com/v1", api_key=SECRET_KEY, environ={})
    request = httpx2.Request("POST", "http://llm.example.com/v1/chat/completions")
    assert short_cause(status_error(503), settings) == "503 from llm.example.com"
    assert short_cause(openai.APITimeoutError(request=request), settings) == "connect timeout"
    assert short_cause(openai.APIConnectionError(request=request), settings) == "cannot connect"


@pytest.mark.parametrize(
    ("url", "offline", "bare"),
    [
        ("http://localhost:8000", False, True),
        ("http://localhost:8000/", False, True),
        ("http://localhost:8000/v1", False, False),
        ("http://localhost:8000/X", False, False),
        ("http://localhost:8000", True, False),
        (None, False, False),
    ],
)
def test_a_bare_base_url_lacks_v1(url, offline, bare) -> None:
    settings = resolve(api_key=SECRET_KEY, environ={}).with_(base_url=url, offline=offline)
    assert _lacks_v1(settings) is bare


def retry_outcome(err: openai.APIError, settings: Settings, attempt: int = 0) -> list[Event]:
    """The events `wait_to_retry` emits for `err`; raises what it raises."""
    events: list[Event] = []
    loop.run(wait_to_retry(err, attempt, settings, events.append))
    return events


def test_a_silent_server_is_not_retried() -> None:
    settings = resolve(base_url="http://llm.example.com/v1", api_key=SECRET_KEY, environ={},
                       idle_timeout=30)  # fmt: skip
    request = httpx2.Request("POST", "http://llm.example.com/v1/chat/completions")
    err = openai.APITimeoutError(request=request)
    err.__cause__ = httpx2.ReadTimeout("read timed out", request=request)
    with pytest.raises(ReplyTimeoutError) as raised:
        retry_outcome(err, settings)
    assert raised.value.message == "no data from llm.example.com for 30 s"
    assert raised.value.hint == "the server is slow to answer; raise NbStream.idle_timeout"


def test_a_failing_server_is_retried_naming_its_status_and_a_wait_as_long_as_allowed() -> None:
    settings = resolve(base_url="http://llm.example.com/v1", api_key=SECRET_KEY, environ={})
    settings = settings.with_(max_retry_wait=0.0)
    events = retry_outcome(status_error(503, headers={"retry-after": "0"}), settings)
    assert events == [Retrying("503 from llm.example.com", 0.0, 1)]


def test_a_wait_longer_than_allowed_is_a_rate_limit_error_saying_so() -> None:
    settings = resolve(base_url="http://llm.example.com/v1", api_key=SECRET_KEY, environ={})
    with pytest.raises(RateLimitError) as raised:
        retry_outcome(status_error(429, headers={"retry-after": "61"}), settings)
    err = raised.value
    assert err.message == (
        "429 from llm.example.com: the server asks to wait 61 s, longer than nbstream waits (60 s)"
    )
    assert err.hint == "try again later, or raise NbStream.max_retry_wait"
    assert (err.status, err.too_long) == (429, True)


def test_a_failure_not_retried_is_raised_with_the_key_scrubbed_from_its_context() -> None:
    settings = resolve(base_url="http://llm.example.com/v1", api_key=SECRET_KEY, environ={})
    err = status_error(400, f"bad key {SECRET_KEY}", {"message": f"bad key {SECRET_KEY}"})
    with pytest.raises(RequestError) as raised:
        retry_outcome(err, settings)
    assert raised.value.message == "400 from llm.example.com: bad key sk-…cdef"
    assert SECRET_KEY not in f"{err.message} {err.body}"


def test_an_unknown_model_on_a_server_without_a_model_list_says_to_check_the_name() -> None:
    settings = resolve(base_url="http://127.0.0.1:9/v1", api_key=SECRET_KEY, environ={})
    err = loop.run(translate(status_error(404, "sdk", {"message": "no such model"}), settings, 1))
    assert type(err) is ModelNotFoundError and err.models == []
    assert err.hint == "check the model name; choose one with -m NAME"
