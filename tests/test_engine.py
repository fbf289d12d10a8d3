"""The stream engine against the shipped server, over real loopback HTTP with the real SDK."""

from __future__ import annotations

import time
from typing import Any

import pytest

from nbstream.engine import loop
from nbstream.engine.result import Event, Finish, Notice, Retrying, Status, TextDelta
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import (
    AuthError,
    BadResponseError,
    ConfigError,
    ConnectError,
    ModelNotFoundError,
    RateLimitError,
    ReplyTimeoutError,
    RequestError,
    StreamError,
)
from nbstream.offline.server import FRAMING_TEXT
from nbstream.settings import Settings, resolve

from .conftest import HANG, SECRET_KEY

HELLO = [{"role": "user", "content": "Hello"}]


def make(settings: Settings, model: str = "nbstream-demo", **options: Any) -> ChatStream:
    params = options.pop("params", {})
    if options:
        params["nbstream"] = options
    events: list[Event] = []
    stream = ChatStream(ChatRequest(HELLO, model, params), settings, events.append)
    stream.events = events  # type: ignore[attr-defined]
    return stream


def run(settings: Settings, model: str = "nbstream-demo", **options: Any):
    stream = make(settings, model, **options)
    return loop.run(stream.run()), stream


def test_a_reply_is_accumulated_with_usage_and_timings(settings, log) -> None:
    result, stream = run(settings, text="Hello there, world.")
    assert result.status is Status.COMPLETE
    assert result.text == "Hello there, world."
    assert result.finish_reason == "stop"
    assert result.usage.completion_tokens == 3 and not result.usage.estimated
    assert result.usage.total_tokens == result.usage.prompt_tokens + 3
    assert result.response_id.startswith("chatcmpl-")
    assert result.system_fingerprint == "fp_nbstream"
    assert 0 < result.timings.first_token <= result.timings.last_token <= result.timings.total
    assert result.chunk_count >= 5  # role, 3 tokens, finish, usage
    assert "".join(e.text for e in stream.events if isinstance(e, TextDelta)) == result.text
    assert Finish("stop") in stream.events
    assert log.records[-1].include_usage


def test_decode_speed_is_completion_tokens_over_first_to_last_token(settings) -> None:
    result, _ = run(settings, tokens=21, rate=100)
    span = result.timings.last_token - result.timings.first_token
    assert result.tokens_per_second == pytest.approx(20 / span)


def test_multibyte_text_split_across_network_writes_is_byte_identical(settings) -> None:
    result, _ = run(settings, "fault-framing")
    assert result.text == FRAMING_TEXT
    assert result.status is Status.COMPLETE


def test_server_rejecting_stream_options_is_retried_once_without(settings, log) -> None:
    result, stream = run(settings, "fault-reject-stream-options", text="ok then")
    assert result.text == "ok then"
    assert result.usage.estimated and result.usage.completion_tokens == 2
    assert [r.include_usage for r in log.records] == [True, False]
    assert any(isinstance(e, Notice) and "stream_options" in e.text for e in stream.events)


def test_server_ignoring_stream_options_gives_an_estimate(settings) -> None:
    result, _ = run(settings, "fault-no-usage", text="one two three four")
    assert result.usage.estimated
    assert result.usage.completion_tokens == 4
    assert result.usage.prompt_tokens > 0


def test_a_dropped_connection_keeps_the_partial_reply_as_incomplete(settings, log) -> None:
    result, _ = run(settings, "fault-disconnect", tokens=4)
    assert result.status is Status.INCOMPLETE
    assert result.text and result.finish_reason is None
    assert result.error == "connection lost"
    assert len(log.records) == 1  # never retried once tokens arrived


def test_a_clean_end_without_finish_reason_is_incomplete_not_success(settings) -> None:
    result, _ = run(settings, "fault-no-finish", tokens=4)
    assert result.status is Status.INCOMPLETE
    assert result.incomplete


def test_a_finish_reason_without_done_counts_as_complete(settings) -> None:
    result, _ = run(settings, "fault-no-done", tokens=4)
    assert result.status is Status.COMPLETE


@pytest.mark.parametrize(
    ("model", "reason"), [("fault-length", "length"), ("fault-content-filter", "content_filter")]
)
def test_the_finish_reason_is_kept(settings, model: str, reason: str) -> None:
    result, _ = run(settings, model, tokens=3)
    assert result.status is Status.COMPLETE and result.finish_reason == reason


def test_max_tokens_gives_finish_reason_length(settings) -> None:
    result, _ = run(settings, params={"max_tokens": 4}, tokens=50)
    assert result.finish_reason == "length" and result.usage.completion_tokens == 4


def test_tool_call_deltas_are_accumulated(settings) -> None:
    result, _ = run(settings, "fault-tool-calls")
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("get_weather", '{"city": "Paris", "unit": "C"}'),
        ("get_weather", '{"city": "London", "unit": "C"}'),
    ]
    assert result.finish_reason == "tool_calls"


def test_a_refusal_is_kept(settings) -> None:
    result, _ = run(settings, "fault-refusal")
    assert result.refusal == "I can't help with that."
    assert result.text == ""


def test_extra_choices_are_ignored_with_a_notice(settings) -> None:
    result, _ = run(settings, "fault-choices", params={"n": 2})
    assert result.text == "This is choice 0."
    assert "only the first of several choices is shown" in result.notices


def test_a_plain_json_reply_to_a_stream_request_is_accepted(settings) -> None:
    result, _ = run(settings, "fault-json", text="plain json")
    assert result.text == "plain json" and result.status is Status.COMPLETE


def test_an_html_page_is_an_error_quoting_it(settings) -> None:
    with pytest.raises(BadResponseError, match="Sign in"):
        run(settings, "fault-html")


def test_a_malformed_event_fails_and_keeps_the_partial_reply(settings, log) -> None:
    with pytest.raises(StreamError, match="malformed event") as caught:
        run(settings, "fault-malformed", tokens=3)
    assert caught.value.result.status is Status.FAILED
    assert caught.value.result.text
    assert log.wait_for(lambda r: r[-1].outcome != "pending", HANG)


def test_an_in_band_error_fails_and_keeps_the_partial_reply(settings) -> None:
    with pytest.raises(StreamError, match="crashed mid-stream") as caught:
        run(settings, "fault-error-event", tokens=3)
    assert caught.value.result.text


def test_a_stall_past_the_idle_timeout_fails_and_closes(settings, log) -> None:
    quick = settings.with_(idle_timeout=0.5)
    with pytest.raises(StreamError, match=r"no data .* for 0.5 s") as caught:
        run(quick, "fault-stall", tokens=2)  # the stall lasts an hour: a hang fails by timeout
    assert caught.value.result.status is Status.FAILED
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)


def test_keep_alives_reset_the_idle_timeout(settings) -> None:
    # A keep-alive every 0.02 s against a 1 s idle timeout: a busy machine must delay one
    # fiftyfold to fail this, while without them the 2 s stall would fail it every time.
    quick = settings.with_(idle_timeout=1.0)
    result, _ = run(quick, "fault-stall", tokens=2, stall=2.0, keepalive=0.02)
    assert result.status is Status.COMPLETE


def test_no_first_token_in_time_is_its_own_error(settings) -> None:
    quick = settings.with_(first_token_timeout=0.5)
    with pytest.raises(ReplyTimeoutError, match=r"no first token .* within 0.5 s"):
        run(quick, first_token_delay=5)


def test_401_names_the_host_and_never_shows_the_key(settings, log) -> None:
    with pytest.raises(AuthError) as caught:
        run(settings, "fault-401")
    message = str(caught.value)
    assert message.startswith(f"401 from {settings.host}: Incorrect API key")
    assert SECRET_KEY not in message and SECRET_KEY not in repr(caught.value)
    assert SECRET_KEY not in repr(settings)
    assert len(log.records) == 1
    assert log.records[0].authorization == f"Bearer {SECRET_KEY}"


def test_an_unknown_model_lists_what_the_server_offers(settings) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        run(settings, "no-such-model")
    assert "nbstream-demo" in caught.value.models
    assert "nbstream-demo" in caught.value.hint


def test_429_with_retry_after_is_retried_with_a_visible_status(settings, log, fault_key) -> None:
    result, stream = run(settings, text="ok", fail_status=429, retry_after="1", key=fault_key)
    assert result.text == "ok"
    retries = [e for e in stream.events if isinstance(e, Retrying)]
    assert retries == [Retrying("rate limited", 1.0, 1)]
    assert [r.status for r in log.records] == [429, 200]
    # A lower bound only: load can lengthen the wait, never shorten it.
    assert log.records[1].started - log.records[0].started >= 0.95


def test_a_huge_retry_after_fails_at_once_stating_the_wait(settings, log, fault_key) -> None:
    with pytest.raises(RateLimitError, match="wait 86400 s"):
        run(settings, fail_status=429, retry_after="86400", key=fault_key)  # a sleep: timeout
    assert len(log.records) == 1


def test_a_malformed_retry_after_falls_back_to_backoff(settings, log, fault_key) -> None:
    result, stream = run(settings, text="ok", fail_status=429, retry_after="soon", key=fault_key)
    assert result.text == "ok"
    (retry,) = [e for e in stream.events if isinstance(e, Retrying)]
    assert retry.wait < 1


def test_5xx_is_retried_a_bounded_number_of_times(settings, log, fault_key) -> None:
    with pytest.raises(ConnectError, match="after 3 attempts"):
        run(settings.with_(max_retries=2), fail_status=503, fail_times=10, key=fault_key)
    assert len(log.records) == 3


def test_retries_are_configurable(settings, log, fault_key) -> None:
    with pytest.raises(RateLimitError):
        run(settings.with_(max_retries=0), fail_status=429, retry_after="0", key=fault_key)
    assert len(log.records) == 1


def test_a_non_json_error_body_is_quoted(settings) -> None:
    with pytest.raises(ConnectError, match=r"502 from .*Bad Gateway"):
        run(settings.with_(max_retries=0), "fault-plain-error")


def test_a_bad_parameter_is_the_servers_message(settings) -> None:
    with pytest.raises(RequestError, match="400 from"):
        run(settings, fail_status=400, key="bad-param")


def test_connection_refused_names_the_url(settings) -> None:
    dead = settings.with_(base_url="http://127.0.0.1:9/v1", max_retries=1)
    with pytest.raises(ConnectError, match=r"cannot connect to http://127.0.0.1:9/v1 after 2"):
        run(dead)


def test_cancelling_mid_stream_closes_the_connection(settings, log) -> None:
    stream = make(settings, tokens=1000, rate=20)
    job = loop.submit(stream.run())
    assert log.wait_for(lambda r: bool(r) and r[-1].chunks_sent > 3, HANG)
    while not stream.has_output:
        time.sleep(0.01)
    # The default grace (0.4 s) is a wait for a kernel interrupt, not a promise: a busy loop
    # thread may end the job later. It must end, though.
    assert job.cancel(grace=HANG)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert log.records[-1].chunks_sent < 1000  # cut short: the reply would take 50 s
    assert stream.result.status is Status.INTERRUPTED
    assert stream.result.text


def test_cancelling_before_the_first_token_closes_the_connection(settings, log) -> None:
    stream = make(settings, first_token_delay=30)
    job = loop.submit(stream.run())
    assert log.wait_for(lambda r: bool(r), HANG)
    assert job.cancel(grace=HANG)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)  # the first token: 30 s
    assert log.records[-1].chunks_sent == 0 and not stream.has_output


def test_cancelling_during_a_retry_wait_sends_nothing_more(settings, log, fault_key) -> None:
    # The retry is due 5 s after the 429: the cancel lands well before it on a busy machine.
    stream = make(settings, fail_status=429, retry_after="5", key=fault_key)
    job = loop.submit(stream.run())
    assert log.wait_for(lambda r: len(r) == 1 and r[0].outcome == "error", HANG)
    while not any(isinstance(e, Retrying) for e in stream.events):
        time.sleep(0.01)
    # Once the job has ended nothing of it can send a request; a retry wait that went on
    # after the cancel would end it only after sending the retry.
    assert job.cancel(grace=HANG)
    assert len(log.records) == 1


def test_no_key_and_no_fallback_is_a_config_error_naming_the_setting() -> None:
    from nbstream.settings import NbStream

    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        resolve(NbStream(offline_fallback=False), environ={})


def test_413_says_the_prompt_is_too_long(settings) -> None:
    with pytest.raises(RequestError, match="413 from") as caught:
        run(settings, fail_status=413, key="too-long")
    assert "too long" in caught.value.hint
