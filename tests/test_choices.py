"""The settings with a few allowed values: each value means one thing, and a wrong one is
refused with a message that lists the choices and an example to copy."""

from __future__ import annotations

import pytest

from nbstream.choices import CACHE_MODES, REPLAY_PACES, Api, CacheMode, ReplayPace, choice
from nbstream.errors import ConfigError


def test_the_choices_are_the_values_users_type() -> None:
    assert CACHE_MODES == ("off", "record", "replay", "strict")
    assert REPLAY_PACES == ("instant", "recorded")
    assert tuple(api.value for api in Api) == ("chat", "responses", "auto")


@pytest.mark.parametrize(
    ("enum", "typed", "member"),
    [
        (CacheMode, "strict", CacheMode.STRICT),
        (ReplayPace, "recorded", ReplayPace.RECORDED),
        (Api, "responses", Api.RESPONSES),
    ],
)
def test_a_typed_value_is_its_member_and_compares_as_text(enum, typed, member) -> None:
    assert enum(typed) is member and member == typed


def test_an_allowed_value_passes_unchanged() -> None:
    assert choice("cache", "replay", CACHE_MODES, "cache='replay'") == "replay"


def test_a_wrong_value_names_the_setting_the_choices_and_an_example() -> None:
    with pytest.raises(ConfigError) as caught:
        choice("NbStream.replay_pace", "fast", REPLAY_PACES, "%chat cache replay")
    assert caught.value.message == (
        "NbStream.replay_pace must be one of instant, recorded, not 'fast'"
    )
    assert caught.value.hint == "%chat cache replay"


def test_case_matters_so_the_message_shows_what_was_typed() -> None:
    with pytest.raises(ConfigError, match="not 'Replay'"):
        choice("cache", "Replay", CACHE_MODES, "cache='replay'")
