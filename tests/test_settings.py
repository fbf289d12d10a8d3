"""Settings: explicit > configuration > environment > defaults; the key never shows."""

from __future__ import annotations

import pytest

from nbstream.errors import ConfigError
from nbstream.settings import DEFAULT_MODEL, OFFLINE_MODEL, NbStream, mask, resolve

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz"


def test_explicit_beats_config_beats_environment() -> None:
    env = {"NBSTREAM_MODEL": "env-model", "OPENAI_API_KEY": KEY}
    assert resolve(NbStream(), env).model == "env-model"
    assert resolve(NbStream(model="cfg-model"), env).model == "cfg-model"
    assert resolve(NbStream(model="cfg-model"), env, model="arg-model").model == "arg-model"


def test_defaults_with_a_key_talk_to_openai() -> None:
    settings = resolve(NbStream(), {"OPENAI_API_KEY": KEY})
    assert settings.model == DEFAULT_MODEL and settings.base_url is None
    assert settings.host == "api.openai.com" and not settings.offline


def test_base_url_from_nbstream_then_openai_variables() -> None:
    env = {"OPENAI_BASE_URL": "http://a:1/v1/", "NBSTREAM_BASE_URL": "http://b:2/v1"}
    assert resolve(NbStream(), env).base_url == "http://b:2/v1"
    assert resolve(NbStream(), {"OPENAI_BASE_URL": "http://a:1/v1/"}).base_url == "http://a:1/v1"
    assert resolve(NbStream(), {"OPENAI_BASE_URL": "http://a:1/v1"}).api_key is None


def test_azure_endpoint_uses_the_azure_key_and_version() -> None:
    env = {
        "AZURE_OPENAI_ENDPOINT": "https://me.openai.azure.com",
        "AZURE_OPENAI_API_KEY": KEY,
        "OPENAI_API_VERSION": "2024-10-21",
    }
    settings = resolve(NbStream(), env)
    assert settings.azure_endpoint == "https://me.openai.azure.com"
    assert settings.api_key == KEY and settings.api_version == "2024-10-21"
    assert settings.host == "me.openai.azure.com"


def test_nothing_set_means_the_offline_demo() -> None:
    settings = resolve(NbStream(), {})
    assert settings.offline and settings.model == OFFLINE_MODEL


def test_nothing_set_without_fallback_is_an_error_with_a_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(NbStream(offline_fallback=False), {})
    assert "OPENAI_API_KEY" in caught.value.hint


def test_timeouts_and_retries_are_configurable_and_checked() -> None:
    settings = resolve(NbStream(idle_timeout=5.0), {}, max_retries=0, first_token_timeout=9)
    assert (settings.idle_timeout, settings.max_retries, settings.first_token_timeout) == (5, 0, 9)
    with pytest.raises(ConfigError, match="connect_timeout must be a number"):
        resolve(NbStream(), {}, connect_timeout=-1)
    with pytest.raises(ConfigError, match="unknown setting"):
        resolve(NbStream(), {}, colour="blue")


def test_the_key_is_masked_everywhere_it_could_show() -> None:
    settings = resolve(NbStream(), {"OPENAI_API_KEY": KEY})
    assert KEY not in repr(settings)
    assert KEY not in str(settings.shown())
    assert settings.shown()["api_key"] == "sk-…wxyz"
    assert settings.redact(f"Incorrect API key provided: {KEY}.") == (
        "Incorrect API key provided: sk-…wxyz."
    )
    assert mask(None) == "not set" and mask("short") == "…"


def test_config_traits_work_with_traitlets_config() -> None:
    from traitlets.config import Config

    config = Config()
    config.NbStream.model = "from-config"
    assert resolve(NbStream(config=config), {"OPENAI_API_KEY": KEY}).model == "from-config"
