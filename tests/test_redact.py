"""The key guard: every occurrence of a configured key masked, a body holding one refused."""

from __future__ import annotations

import builtins
import logging
import sys

import httpx2
import openai
import pytest

from nbstream.engine.stream import ChatRequest
from nbstream.errors import KeyInRequestError
from nbstream.redact import (
    KEY_FILTER,
    LOGGERS,
    check_body,
    check_request,
    configured_keys,
    guard_logs,
    redact,
    scrub,
)

KEY = "sk-test-REDACT-0123456789abcdef"


def test_every_occurrence_of_every_key_is_masked() -> None:
    text = f"{KEY} and again {KEY}; other sk-other-key-99999999"
    masked = redact(text, [KEY, "sk-other-key-99999999"])
    assert KEY not in masked and "sk-other-key-99999999" not in masked
    assert masked.count("sk-…cdef") == 2


def test_the_configured_keys_are_the_given_and_the_environments_long_ones() -> None:
    env = {"OPENAI_API_KEY": KEY, "AZURE_OPENAI_API_KEY": "short"}
    assert configured_keys("sk-given-key-123456", env) == [KEY, "sk-given-key-123456"]
    assert configured_keys(None, {}) == []
    assert configured_keys("sk-12345", {}) == ["sk-12345"]  # 8 characters: a key
    assert configured_keys("sk-1234", {}) == []


def test_an_exception_chain_is_scrubbed_in_place() -> None:
    try:
        try:
            raise OSError(f"bad key {KEY} {KEY}")
        except OSError as inner:
            raise RuntimeError("wrapped", {"auth": f"Bearer {KEY}"}) from inner
    except RuntimeError as caught:
        scrub(caught, [KEY])
        assert KEY not in repr(caught.args) and KEY not in str(caught.__cause__)


@pytest.mark.parametrize(
    ("messages", "params", "where"),
    [
        ([{"role": "user", "content": f"use {KEY}"}], {}, "the prompt"),
        ([{"role": "system", "content": KEY}, {"role": "user", "content": "hi"}], {},
         "the system prompt"),
        ([{"role": "user", "content": KEY}, {"role": "assistant", "content": "ok"},
          {"role": "user", "content": "hi"}], {}, "the history (message 1, user)"),
        ([{"role": "user", "content": "hi"}], {"metadata": {"k": KEY}},
         "the request parameter 'metadata'"),
        ([f"use {KEY}"], {}, "the prompt"),  # a message that is bare text, not a dict
    ],
)  # fmt: skip
def test_a_request_holding_a_key_is_refused_naming_where(messages, params, where) -> None:
    with pytest.raises(KeyInRequestError) as caught:
        check_request(ChatRequest(messages, "m", params), [KEY])
    assert caught.value.message == f"not sent: {where} holds an API key"
    assert caught.value.hint == "remove the key from it (the conversation is unchanged)"
    assert KEY not in str(caught.value)


def test_a_key_as_the_model_name_is_refused_naming_the_model() -> None:
    with pytest.raises(KeyInRequestError) as caught:
        check_request(ChatRequest([{"role": "user", "content": "hi"}], KEY, {}), [KEY])
    assert caught.value.message == "not sent: the request parameter 'model' holds an API key"


def test_bytes_that_are_not_utf8_are_still_searched_and_masked() -> None:
    raw = b"\xff " + KEY.encode()
    err = scrub(ValueError(raw), [KEY])
    assert err.args == ("\ufffd sk-…cdef".encode(),)
    with pytest.raises(KeyInRequestError):
        check_body({"messages": [], "extra_body": raw}, [KEY])


def test_every_branch_of_a_chain_is_scrubbed() -> None:
    inner, cause, context = ValueError(KEY), ValueError(KEY), OSError(KEY)
    cause_only = RuntimeError("no context")
    cause_only.__cause__ = inner  # raised `from` an error it was not handling
    both = RuntimeError("cause and context")
    both.__cause__, both.__context__ = cause, context
    for err in (cause_only, both):
        scrub(err, [KEY])
    assert [e.args for e in (inner, cause, context)] == [("sk-…cdef",)] * 3


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is built in from 3.11")
def test_every_member_of_an_exception_group_is_scrubbed() -> None:
    member = KeyError(KEY)
    group = builtins.ExceptionGroup("tools failed", [member, TypeError("no key")])
    scrub(group, [KEY])
    assert member.args == ("sk-…cdef",)


def test_a_chain_that_loops_back_is_scrubbed_and_the_scrub_ends() -> None:
    first, second = ValueError(KEY), OSError(KEY)
    first.__cause__, second.__context__ = second, first
    itself = RuntimeError(KEY)
    itself.__cause__ = itself  # `raise err from err`
    scrub(first, [KEY])
    scrub(itself, [KEY])
    assert [e.args for e in (first, second, itself)] == [("sk-…cdef",)] * 3


def test_an_attribute_behind_a_read_only_property_is_scrubbed_too() -> None:
    class Frozen(Exception):
        @property
        def status(self) -> object:
            return self.__dict__["status"]

    err = Frozen(KEY)
    err.__dict__["status"] = KEY
    scrub(err, [KEY])
    assert err.args == ("sk-…cdef",) and err.status == "sk-…cdef"


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "http://localhost/v1", headers={"Authorization": f"Bearer {KEY}"})


def test_a_connection_errors_request_header_is_masked() -> None:
    err = scrub(openai.APIConnectionError(request=_request()), [KEY])
    assert err.request.headers["authorization"] == "Bearer sk-...cdef"  # type: ignore[attr-defined]


def test_a_response_its_body_and_its_request_are_masked() -> None:
    err = RuntimeError("401")
    err.response = httpx2.Response(401, request=_request(), content=f"bad {KEY}".encode())  # type: ignore[attr-defined]
    scrub(err, [KEY])
    response: httpx2.Response = err.response  # type: ignore[attr-defined]
    assert response.content == "bad sk-…cdef".encode()
    assert response.request.headers["authorization"] == "Bearer sk-...cdef"


def test_a_response_that_is_not_an_http_message_is_left_alone() -> None:
    err = RuntimeError(KEY)
    err.response = 401  # type: ignore[attr-defined]
    assert scrub(err, [KEY]).args == ("sk-…cdef",)


def test_the_key_filter_goes_on_and_off_every_logger_that_may_see_a_key() -> None:
    loggers = [logging.getLogger(name) for name in LOGGERS]
    guard_logs(KEY_FILTER, on=True)
    guard_logs(KEY_FILTER, on=False)
    assert not any(KEY_FILTER in logger.filters for logger in loggers)
    guard_logs(KEY_FILTER, on=True)  # as every session leaves them
    assert all(KEY_FILTER in logger.filters for logger in loggers)
