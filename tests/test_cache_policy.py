"""Which stream a turn gets under each cache mode: the model, a recorded reply, or a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbstream.engine.result import ChatResult, Usage
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import CacheError, CacheMissError
from nbstream.settings import NbStream, Settings, resolve
from nbstream.store.cache import ResponseCache
from nbstream.store.cache_key import CacheRequest, cache_host
from nbstream.store.cache_policy import stream_for
from nbstream.store.replay import ReplayStream

HELLO = ChatRequest([{"role": "user", "content": "Hello"}], "m", {"temperature": 0}, True)


def settings(mode: str) -> Settings:
    return resolve(NbStream(), {}, base_url="http://127.0.0.1:9/v1", api_key="k", cache=mode)


class Live:
    """The live-stream factory the session hands over; counts how often it was asked."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.made = settings, 0

    def __call__(self) -> ChatStream:
        self.made += 1
        return ChatStream(HELLO, self.settings)


def recorded(cache: ResponseCache, text: str) -> None:
    keyed = CacheRequest(cache_host(settings("record")), "m", HELLO.messages, HELLO.params)
    cache.put(keyed, ChatResult(text=text, finish_reason="stop", usage=Usage(1, 1, 2)))


@pytest.fixture
def cache(tmp_path: Path) -> ResponseCache:
    return ResponseCache(tmp_path / ".nbstream" / "cache.sqlite")


def test_off_goes_to_the_model_records_nothing_and_never_touches_the_store(cache) -> None:
    live = Live(settings("off"))
    stream, to_record = stream_for(cache, HELLO, live.settings, None, live)
    assert isinstance(stream, ChatStream) and live.made == 1 and to_record is None
    assert not cache.path.parent.exists()


def test_record_goes_to_the_model_even_with_a_stored_reply_and_keys_what_to_store(cache):
    recorded(cache, "old")
    live = Live(settings("record"))
    stream, to_record = stream_for(cache, HELLO, live.settings, None, live)
    assert isinstance(stream, ChatStream) and live.made == 1
    assert to_record is not None and to_record.messages == HELLO.messages
    assert to_record.host == "127.0.0.1:9" and to_record.params == {"temperature": 0}


@pytest.mark.parametrize("mode", ["replay", "strict"])
def test_a_stored_reply_is_replayed_without_asking_the_model(cache, mode) -> None:
    recorded(cache, "from the cache")
    live = Live(settings(mode))
    stream, to_record = stream_for(cache, HELLO, live.settings, None, live)
    assert isinstance(stream, ReplayStream) and live.made == 0 and to_record is None
    assert stream.recorded.text == "from the cache" and stream.recorded.replayed


def test_a_replay_miss_goes_to_the_model_and_keys_the_reply_to_store(cache) -> None:
    live = Live(settings("replay"))
    stream, to_record = stream_for(cache, HELLO, live.settings, None, live)
    assert isinstance(stream, ChatStream) and live.made == 1 and to_record is not None


def test_a_strict_miss_is_an_error_naming_the_cell_and_nothing_is_made(cache) -> None:
    live = Live(settings("strict"))
    with pytest.raises(CacheMissError, match="no recorded reply for cell c1, prompt 'Hello'"):
        stream_for(cache, HELLO, live.settings, "c1", live)
    assert live.made == 0


def test_an_unkeyable_request_fails_before_the_model_is_asked(cache) -> None:
    odd = ChatRequest(HELLO.messages, "m", {"temperature": float("nan")}, True)
    live = Live(settings("record"))
    with pytest.raises(CacheError, match="cannot cache this request"):
        stream_for(cache, odd, live.settings, None, live)
    assert live.made == 0


def test_recording_into_an_unusable_store_fails_before_the_model_is_asked(cache) -> None:
    cache.path.parent.mkdir()
    cache.path.write_bytes(b"not a database at all, just text" * 4)
    live = Live(settings("record"))
    with pytest.raises(CacheError, match="is not an SQLite database"):
        stream_for(cache, HELLO, live.settings, None, live)
    assert live.made == 0
