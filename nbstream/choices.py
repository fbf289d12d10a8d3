"""The settings that take one of a few values: what each value means, and the check that names
the choices when a value is not one of them."""

from __future__ import annotations

from enum import Enum

from .errors import ConfigError


class CacheMode(str, Enum):
    """What the response cache does for a turn (see nbstream.store.cache)."""

    OFF = "off"  # always ask the model; store nothing
    RECORD = "record"  # ask the model; store every complete reply
    REPLAY = "replay"  # answer from the store; a miss asks the model and is stored
    STRICT = "strict"  # answer from the store only; a miss fails the cell (for CI)


class ReplayPace(str, Enum):
    """How a replayed reply appears."""

    INSTANT = "instant"  # all at once
    RECORDED = "recorded"  # spread over the recorded time to first token and duration


CACHE_MODES = tuple(mode.value for mode in CacheMode)
REPLAY_PACES = tuple(pace.value for pace in ReplayPace)


class Api(str, Enum):
    """Which endpoint carries a turn."""

    CHAT = "chat"  # /chat/completions, which every OpenAI-compatible server speaks
    RESPONSES = "responses"  # OpenAI's /responses
    AUTO = "auto"  # chat, but responses for a model the server serves only there (remembered)


def choice(name: str, value: str, choices: tuple[str, ...], example: str) -> str:
    """`value` if it is one of `choices`, else a ConfigError naming them and an example."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}", example)
    return value
