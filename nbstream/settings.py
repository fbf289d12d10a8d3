"""One place that decides model, endpoint, key, timeouts and retries.

Order: explicit arguments, then nbstream's traitlets configuration (`%config NbStream.model = ...`,
`c.NbStream.model = ...` in ipython_config.py), then the environment, then defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .choices import CACHE_MODES, REPLAY_PACES, Api, CacheMode, ReplayPace, choice
from .colab import HOST_ENV as COLAB_HOST_ENV
from .colab import proxy as colab_proxy
from .config import NbStream
from .errors import ConfigError

__all__ = [
    "CACHE_MODES", "DEFAULT_MODEL", "OFFLINE_MODEL", "OPENAI_URL", "REPLAY_PACES", "Api",
    "CacheMode", "NbStream", "ReplayPace", "Settings", "cache_mode", "mask", "resolve",
]  # fmt: skip

DEFAULT_MODEL = "gpt-4o-mini"
OFFLINE_MODEL = "nbstream-demo"
OPENAI_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one request. `api_key` never appears in repr or `shown()`."""

    model: str
    base_url: str | None
    api_key: str | None = field(repr=False)
    connect_timeout: float = 10.0
    first_token_timeout: float = 120.0
    idle_timeout: float = 60.0
    max_retries: int = 2
    max_retry_wait: float = 60.0
    offline: bool = False
    azure_endpoint: str | None = None
    api_version: str | None = None
    cache: CacheMode = CacheMode.OFF
    replay_pace: ReplayPace = ReplayPace.INSTANT
    api: Api = Api.AUTO
    hide_reasoning: bool = False
    think_tags: bool = True
    source: str = ""  # which backend was chosen and why, for `%chat config`

    @property
    def host(self) -> str:
        """The server's host for messages: 'api.openai.com', '127.0.0.1:8000', ..."""
        if self.offline:
            return "the offline demo server"
        url = self.azure_endpoint or self.base_url or OPENAI_URL
        return urlsplit(url).netloc or url

    def shown(self) -> dict[str, Any]:
        """The settings as a user may see them: the key masked."""
        return {
            "backend": self.source or None,
            "model": self.model,
            "base_url": "offline demo server" if self.offline else (self.base_url or OPENAI_URL),
            "azure_endpoint": self.azure_endpoint,
            "api_key": mask(self.api_key),
            "connect_timeout": self.connect_timeout,
            "first_token_timeout": self.first_token_timeout,
            "idle_timeout": self.idle_timeout,
            "max_retries": self.max_retries,
            "max_retry_wait": self.max_retry_wait,
            "cache": self.cache,
            "replay_pace": self.replay_pace,
            "api": self.api.value,
            "hide_reasoning": self.hide_reasoning,
        }

    def redact(self, text: str) -> str:
        """`text` with the API key (servers echo it in 401 bodies) replaced by its mask."""
        if self.api_key and len(self.api_key) >= 4 and self.api_key in text:
            return text.replace(self.api_key, mask(self.api_key))
        return text

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)


def mask(key: str | None) -> str:
    """'sk-…wxyz' for a key, 'not set' for none; short keys are hidden entirely."""
    if not key:
        return "not set"
    return f"{key[:3]}…{key[-4:]}" if len(key) >= 16 else "…"


_TUNABLES = (
    "connect_timeout",
    "first_token_timeout",
    "idle_timeout",
    "max_retries",
    "max_retry_wait",
)


def resolve(
    config: NbStream | None = None,
    environ: Mapping[str, str] | None = None,
    **explicit: Any,
) -> Settings:
    """Resolve settings: explicit arguments > `config` > `environ` > defaults."""
    config = config or NbStream()
    env = os.environ if environ is None else environ
    given = {k: v for k, v in explicit.items() if v is not None}
    unknown = set(given) - {"model", "base_url", "api_key", "cache", "api", "hide_reasoning",
                            *_TUNABLES}  # fmt: skip
    if unknown:
        raise ConfigError(f"unknown setting {sorted(unknown)[0]!r}", "see %chat config")
    tunables = {name: given.get(name, getattr(config, name)) for name in _TUNABLES}
    _check_tunables(tunables)
    pace_example = "%config NbStream.replay_pace = 'recorded'"
    tunables["cache"] = cache_mode(given.get("cache"), config, env)
    tunables["replay_pace"] = ReplayPace(
        choice("NbStream.replay_pace", config.replay_pace, REPLAY_PACES, pace_example)
    )
    tunables.update(_reasoning_settings(given, config))
    model = given.get("model") or config.model or env.get("NBSTREAM_MODEL")
    return _with_backend(model, given, config, env, tunables)


def _with_backend(
    model: str | None,
    given: dict[str, Any],
    config: NbStream,
    env: Mapping[str, str],
    tunables: dict[str, Any],
) -> Settings:
    """Choose the backend: a base URL, Azure, OpenAI with a key, Colab's model proxy, or the
    offline demo, in that order; `Settings.source` says which and why."""
    base_url, url_from = _first(
        (given.get("base_url"), "base_url argument"), (config.base_url, "NbStream.base_url"),
        (env.get("NBSTREAM_BASE_URL"), "NBSTREAM_BASE_URL"),
        (env.get("OPENAI_BASE_URL"), "OPENAI_BASE_URL"),
    )  # fmt: skip
    azure = None if base_url else env.get("AZURE_OPENAI_ENDPOINT")
    api_key = (
        given.get("api_key")
        or (env.get("AZURE_OPENAI_API_KEY") if azure else None)
        or env.get("OPENAI_API_KEY")
    )
    if base_url or azure or api_key:
        source = (
            f"{url_from} is set" if base_url else
            "Azure: AZURE_OPENAI_ENDPOINT is set" if azure else "OpenAI: an API key is set"
        )  # fmt: skip
        return Settings(
            model or DEFAULT_MODEL, base_url.rstrip("/") if base_url else None, api_key,
            azure_endpoint=azure, api_version=env.get("OPENAI_API_VERSION") if azure else None,
            source=source, **tunables,
        )  # fmt: skip
    colab = colab_proxy(env)
    if colab is not None:
        model = model or colab.default_model(tunables["connect_timeout"])
        source = f"Colab's model proxy: {COLAB_HOST_ENV} is set and no key or base URL"
        return Settings(model, colab.base_url, colab.token, source=source, **tunables)
    if not config.offline_fallback:
        raise ConfigError(
            "no API key: nothing to authenticate with",
            "set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server), "
            "or %config NbStream.offline_fallback = True for the offline demo",
        )
    source = "offline demo: no API key, base URL or Colab model proxy is set"
    return Settings(model or OFFLINE_MODEL, None, None, offline=True, source=source, **tunables)


def _first(*candidates: tuple[str | None, str]) -> tuple[str | None, str]:
    """The first set value and the name of where it came from."""
    for value, name in candidates:
        if value:
            return value, name
    return None, ""


def _reasoning_settings(given: dict[str, Any], config: NbStream) -> dict[str, Any]:
    api = given.get("api", config.api)
    names = tuple(a.value for a in Api)
    choice("api", api.value if isinstance(api, Api) else api, names, "api='responses'")
    return {
        "api": Api(api),
        "hide_reasoning": bool(given.get("hide_reasoning", config.hide_reasoning)),
        "think_tags": config.think_tags,
    }


def _check_tunables(values: dict[str, Any]) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ConfigError(
                f"{name} must be a number >= 0, got {value!r}",
                f"%config NbStream.{name} = 30",
            )


def cache_mode(explicit: str | None, config: NbStream, environ: Mapping[str, str]) -> CacheMode:
    """The response cache mode: explicit > `NbStream.cache` > $NBSTREAM_CACHE > off."""
    if explicit is not None:
        return CacheMode(choice("cache", explicit, CACHE_MODES, "cache='replay'"))
    if config.cache is not None:
        return CacheMode(choice("NbStream.cache", config.cache, CACHE_MODES, "%chat cache replay"))
    value = environ.get("NBSTREAM_CACHE") or "off"
    return CacheMode(choice("NBSTREAM_CACHE", value, CACHE_MODES, "export NBSTREAM_CACHE=replay"))
