"""nbstream's errors: one line a user can act on, and a hint; one family to catch."""

from __future__ import annotations

import pytest

from nbstream.engine.result import ChatResult, Status, Usage
from nbstream.errors import (
    AuthError,
    CacheError,
    CacheMissError,
    ConfigError,
    IncompleteError,
    NbStreamError,
    RequestError,
    StreamError,
    incomplete_error,
)


def test_the_message_comes_first_and_the_hint_on_its_own_line() -> None:
    err = ConfigError("no API key", "set OPENAI_API_KEY")
    assert str(err) == "no API key\n  hint: set OPENAI_API_KEY"
    assert (err.message, err.hint) == ("no API key", "set OPENAI_API_KEY")
    assert str(NbStreamError("just this")) == "just this"


@pytest.mark.parametrize(
    ("error", "family"),
    [(AuthError, RequestError), (CacheMissError, CacheError), (IncompleteError, StreamError)],
)
def test_every_error_is_one_family_to_catch(error, family) -> None:
    assert issubclass(error, family) and issubclass(error, NbStreamError)


def test_an_incomplete_reply_error_says_why_and_how_many_tokens_and_keeps_the_reply() -> None:
    partial = ChatResult(text="half", status=Status.INCOMPLETE, usage=Usage(3, 12, 15))
    err = incomplete_error(partial, "use --allow-incomplete")
    assert str(err) == (
        "incomplete reply: the stream ended without a finish reason after 12 tokens\n"
        "  hint: use --allow-incomplete"
    )
    assert err.result is partial
    dropped = ChatResult(status=Status.INCOMPLETE, error="connection lost", usage=Usage(0, 4, 4))
    assert str(incomplete_error(dropped, "")) == "incomplete reply: connection lost after 4 tokens"
