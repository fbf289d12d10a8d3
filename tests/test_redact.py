"""The key guard: every occurrence of a configured key masked, a body holding one refused."""

from __future__ import annotations

import pytest

from nbstream.engine.stream import ChatRequest
from nbstream.errors import KeyInRequestError
from nbstream.redact import check_request, configured_keys, redact, scrub

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
    ],
)  # fmt: skip
def test_a_request_holding_a_key_is_refused_naming_where(messages, params, where) -> None:
    with pytest.raises(KeyInRequestError) as caught:
        check_request(ChatRequest(messages, "m", params), [KEY])
    assert caught.value.message == f"not sent: {where} holds an API key"
    assert KEY not in str(caught.value)
