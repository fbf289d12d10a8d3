"""Exceptions nbstream did not raise reach the user as one line and a hint, keys redacted."""

from __future__ import annotations

import asyncio
import json

import pytest

from nbstream.engine.foreign import shown, unexpected, user_facing
from nbstream.errors import BadInputError, ConfigError, NbStreamError, UnexpectedError

KEY = "sk-test-FOREIGN-0123456789abcdef"


def test_an_nbstream_error_passes_as_it_is() -> None:
    ours = ConfigError("no key", "set one")
    assert unexpected(ours) is ours


def test_a_lone_surrogate_names_the_character_and_its_likely_origin() -> None:
    with pytest.raises(UnicodeEncodeError) as caught:
        "a\udcffb".encode()
    err = unexpected(caught.value)
    assert isinstance(err, BadInputError)
    assert err.message.startswith("not sent: the request holds '\\udcff', which cannot be encoded")
    assert "surrogateescape" in err.hint


def test_nan_parameters_and_a_missing_azure_version_get_their_own_words() -> None:
    with pytest.raises(ValueError) as nan:
        json.dumps(float("nan"), allow_nan=False)
    assert unexpected(nan.value).message == (
        "not sent: a parameter is NaN or infinite, which JSON cannot carry"
    )
    azure = unexpected(ValueError("Must provide ... the `OPENAI_API_VERSION` environment variable"))
    assert isinstance(azure, ConfigError) and "OPENAI_API_VERSION=" in azure.hint


def test_anything_else_is_its_type_and_first_line() -> None:
    err = unexpected(RuntimeError("broke here\n  detail\n  more detail"))
    assert isinstance(err, UnexpectedError)
    assert str(err) == "RuntimeError: broke here\n  hint: nothing was kept; %tb has the traceback"
    assert unexpected(KeyError()).message == "KeyError: (no message)"


def test_shown_redacts_the_key_along_the_whole_chain(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    try:
        try:
            raise OSError(f"proxy said: bad key {KEY}")
        except OSError as inner:
            raise RuntimeError(f"wrapped {KEY}") from inner
    except RuntimeError as caught:
        original, err = caught, shown(caught)
    assert isinstance(err, UnexpectedError) and err.__cause__ is original
    chain = [err, original, original.__cause__]
    assert isinstance(chain[2], OSError)
    assert all(KEY not in str(e) and KEY not in repr(e.args) for e in chain)


def test_user_facing_maps_what_a_sync_or_async_function_raises() -> None:
    @user_facing
    def sync() -> None:
        raise ZeroDivisionError("division by zero")

    @user_facing
    async def not_sync() -> None:
        raise LookupError("gone")

    with pytest.raises(NbStreamError, match="ZeroDivisionError: division by zero") as caught:
        sync()
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    with pytest.raises(NbStreamError, match="LookupError: gone"):
        asyncio.run(not_sync())


def test_user_facing_lets_an_interrupt_through_unchanged() -> None:
    @user_facing
    def stopped() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stopped()
