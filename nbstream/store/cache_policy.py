"""Where a turn's stream comes from under each cache mode: the model, or a recorded reply."""

from __future__ import annotations

from collections.abc import Callable

from ..engine.stream import ChatRequest, TurnStream
from ..settings import CacheMode, Settings
from .attachments import by_hash
from .cache import ResponseCache
from .cache_key import CacheRequest, cache_host, miss_error
from .replay import ReplayStream


def stream_for(
    cache: ResponseCache,
    request: ChatRequest,
    settings: Settings,
    cell_id: str | None,
    live: Callable[[], TurnStream],
) -> tuple[TurnStream, CacheRequest | None]:
    """The live stream (`live()`) or a replay, as the cache mode says; and what to record."""
    if settings.cache is CacheMode.OFF:
        return live(), None
    messages = by_hash(request.messages)  # an image is keyed and kept by its hash
    keyed = CacheRequest(cache_host(settings), request.model, messages, request.params)
    key = keyed.key  # parameters the cache cannot key fail the cell before any request
    if settings.cache is CacheMode.RECORD:
        cache.check()  # and so does a store that cannot be used
        return live(), keyed
    entry = cache.get(key)
    if entry is not None:
        return ReplayStream(entry, settings.replay_pace), None
    if settings.cache is CacheMode.STRICT:
        raise miss_error(keyed, cell_id, cache.where)
    return live(), keyed
