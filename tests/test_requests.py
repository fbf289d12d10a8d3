"""The offline server checks requests as OpenAI does and logs them for tests to read."""

from __future__ import annotations

import threading

import httpx2
import pytest

from nbstream.offline.requests import (
    Refusal,
    RequestLog,
    RequestRecord,
    include_usage,
    parse_body,
    request_options,
    validate,
)

HELLO = [{"role": "user", "content": "Hi"}]


def refusal(body: dict | None) -> tuple[int, dict]:
    with pytest.raises(Refusal) as caught:
        validate(body)
    return caught.value.status, caught.value.error


def test_a_body_that_is_not_json_or_not_an_object_is_none() -> None:
    assert parse_body(b"{nope") is None and parse_body(b"[1]") is None
    assert parse_body(b'{"model": "m"}') == {"model": "m"}
    assert refusal(None)[0] == 400


def test_missing_model_or_messages_are_refused_with_openais_words() -> None:
    assert refusal({"messages": HELLO}) == (400, {
        "message": "You must provide a model parameter.", "type": "invalid_request_error",
        "param": "model", "code": "missing_required_parameter",
    })  # fmt: skip
    status, error = refusal({"model": "m"})
    assert (status, error["message"]) == (400, "Missing required parameter: 'messages'.")
    assert validate({"model": "m", "messages": HELLO})["model"] == "m"


def test_options_must_be_known_and_non_negative() -> None:
    assert request_options({"nbstream": {"rate": 5}}, {"rate": 1.0, "x": 2}) == {"rate": 5, "x": 2}
    for bad in ({"nope": 1}, {"rate": -1}, {"rate": "fast"}, {"fail_status": 200},
                {"chunk_tokens": 0}):  # fmt: skip
        with pytest.raises(Refusal) as caught:
            request_options({"nbstream": bad}, {})
        assert caught.value.status == 400 and caught.value.error["param"] == "nbstream"


def test_usage_is_included_only_when_asked() -> None:
    assert include_usage({"stream_options": {"include_usage": True}})
    assert not include_usage({"stream_options": None}) and not include_usage({})


def test_the_log_records_what_the_server_saw(server, log) -> None:
    body = {"model": "nbstream-demo", "messages": HELLO, "temperature": 0.5, "stream": False}
    httpx2.post(f"{server.url}/chat/completions", json=body, timeout=20).raise_for_status()
    (record,) = log.records
    assert record.body["temperature"] == 0.5 and record.outcome == "complete"
    log.clear()
    assert log.records == []


def test_waiting_for_the_log_ends_when_the_record_comes_or_times_out() -> None:
    log = RequestLog()
    assert not log.wait_for(lambda records: bool(records), timeout=0.05)
    record = RequestRecord("m", {}, None, stream=True, include_usage=False)
    adder = threading.Timer(0.05, lambda: log._add(record))
    adder.start()
    assert log.wait_for(lambda records: len(records) == 1, timeout=20)
