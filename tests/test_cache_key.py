"""The response cache's key: what a reply is stored under, and strict mode's miss."""

from __future__ import annotations

import pytest

from nbstream.errors import CacheError, CacheMissError
from nbstream.settings import NbStream, resolve
from nbstream.store.cache_key import CacheRequest, cache_host, key_for, miss_error

from .conftest import SECRET_KEY

HELLO = [{"role": "user", "content": "Hello"}]


def request(content: str = "Hello", **changes) -> CacheRequest:
    messages = [{"role": "user", "content": content}]
    values = {"host": "api.openai.com", "model": "gpt-4o-mini", "messages": messages, "params": {}}
    return CacheRequest(**{**values, **changes})


def test_the_key_is_a_pinned_sha256_of_the_canonical_request() -> None:
    key = key_for("api.openai.com", "gpt-4o-mini", HELLO, {"temperature": 0})
    assert key == "9456d1a0f11b0eab8803dc86a5036da6d770b2152f7fe6a0419ee148ab81c484"
    same = key_for("api.openai.com", "gpt-4o-mini", [{"content": "Hello", "role": "user"}],
                   {"temperature": 0})  # fmt: skip
    assert same == key


@pytest.mark.parametrize(
    ("host", "model", "messages", "params"),
    [
        ("localhost:8000", "gpt-4o-mini", HELLO, {"temperature": 0}),
        ("api.openai.com", "gpt-4o", HELLO, {"temperature": 0}),
        ("api.openai.com", "gpt-4o-mini", [{"role": "user", "content": "Hello!"}],
         {"temperature": 0}),
        ("api.openai.com", "gpt-4o-mini", [{"role": "system", "content": "Be brief."}, *HELLO],
         {"temperature": 0}),
        ("api.openai.com", "gpt-4o-mini", HELLO, {"temperature": 0.7}),
        ("api.openai.com", "gpt-4o-mini", HELLO, {"temperature": 0, "seed": 1}),
        ("api.openai.com", "gpt-4o-mini", HELLO, {}),
    ],
)  # fmt: skip
def test_the_key_changes_with_host_model_messages_and_params(host, model, messages, params) -> None:
    base = key_for("api.openai.com", "gpt-4o-mini", HELLO, {"temperature": 0})
    assert key_for(host, model, messages, params) != base


#: The history before the prompt "Hello", against which each case below differs.
EARLIER = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


@pytest.mark.parametrize(
    "earlier",
    [
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}],
        [{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Hello!"}],
        [{"role": "user", "content": "Hi"}],
        [{"role": "system", "content": "Be brief."}, *EARLIER],
        [],
    ],
)
def test_the_key_covers_the_whole_history_not_only_the_last_message(earlier) -> None:
    base = key_for("h", "m", [*EARLIER, *HELLO], {})
    assert key_for("h", "m", [*earlier, *HELLO], {}) != base
    assert key_for("h", "m", [*EARLIER, *HELLO], {}) == base


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({"OPENAI_API_KEY": SECRET_KEY}, "api.openai.com"),
        ({"OPENAI_BASE_URL": "https://API.OpenAI.com:443/v1"}, "api.openai.com"),
        ({"OPENAI_BASE_URL": "http://localhost:11434/v1"}, "localhost:11434"),
        ({"OPENAI_BASE_URL": "http://localhost:80/v1"}, "localhost"),
        ({"OPENAI_BASE_URL": "https://user:secret@proxy.example/openai/v1"}, "proxy.example"),
        ({"OPENAI_BASE_URL": "http://[::1]:8000/v1"}, "[::1]:8000"),
        ({"AZURE_OPENAI_ENDPOINT": "https://me.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"},
         "me.openai.azure.com"),
        ({"OPENAI_BASE_URL": "LLM.internal:8443/v1"}, "llm.internal:8443"),  # no scheme
        ({"OPENAI_BASE_URL": "http://llm.internal:99999/v1"}, "llm.internal"),  # no real port
        ({}, "offline-demo"),
    ],
)  # fmt: skip
def test_the_host_in_the_key_is_the_servers_host_and_port_only(env, host) -> None:
    assert cache_host(resolve(NbStream(), env)) == host


def test_parameters_that_are_not_json_cannot_be_cached() -> None:
    with pytest.raises(CacheError, match="cannot cache this request") as err:
        request(params={"response_format": object()}).canonical()
    assert err.value.hint == "cached requests need JSON parameters (text, numbers, lists, dicts)"
    with pytest.raises(CacheError):
        request(params={"temperature": float("nan")}).canonical()


def test_the_preview_is_the_last_prompts_first_line_shortened() -> None:
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}]
    asked = request(messages=[*history, {"role": "user", "content": "\n  second line\nmore"}])
    assert asked.preview == "second line"
    assert request("one\ntwo\nthree").preview == "one"
    long = request("x" * 80)
    assert long.preview == "x" * 59 + "…" and len(long.preview) == 60
    assert request("y" * 60).preview == "y" * 60  # as long as it may be: whole
    assert request(messages=[{"role": "system", "content": "s"}]).preview == ""


def test_the_canonical_form_is_sorted_compact_ascii_json() -> None:
    canonical = request("héllo", params={"b": 1, "a": [1, 2]}).canonical()
    assert canonical == (
        '{"host":"api.openai.com","messages":[{"content":"h\\u00e9llo","role":"user"}],'
        '"model":"gpt-4o-mini","params":{"a":[1,2],"b":1},"v":1}'
    )


def test_a_strict_miss_names_the_cell_the_prompt_and_the_store() -> None:
    err = miss_error(request("Summarise this"), "c-7", ".nbstream/cache.sqlite")
    assert isinstance(err, CacheMissError) and isinstance(err, CacheError)
    assert str(err).splitlines()[0] == (
        "strict cache: no recorded reply for cell c-7, prompt 'Summarise this' in "
        ".nbstream/cache.sqlite; nothing was sent"
    )
    assert err.hint == (
        "record it first (%chat cache record, or NBSTREAM_CACHE=record); a changed prompt, "
        "history, model, parameter or server is a new request"
    )
    without_cell = miss_error(request("Hi"), None, "c.sqlite")
    assert str(without_cell).startswith("strict cache: no recorded reply for prompt 'Hi' in")
