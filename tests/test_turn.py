"""A turn's options and, once prepared, its record of what it sends and what it kept."""

from __future__ import annotations

import asyncio

import pytest

from nbstream.engine.result import ChatResult, Status
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.store.threads import DEFAULT
from nbstream.turn import Turn, TurnOptions


def test_options_default_to_the_settings_and_the_default_thread() -> None:
    options = TurnOptions()
    assert options.thread == DEFAULT and options.model is None and options.stream
    assert options.params == {} and options.params is not TurnOptions().params
    with pytest.raises(AttributeError):
        options.model = "x"  # type: ignore[misc]


def test_a_turn_keeps_nothing_until_output_arrives_then_the_partial_reply(settings) -> None:
    request = ChatRequest([{"role": "user", "content": "Hi"}], "nbstream-demo",
                          {"nbstream": {"text": "one two three"}})  # fmt: skip
    stream = ChatStream(request, settings)
    turn = Turn("Hi", TurnOptions(thread="t"), "cell-1", "id-1", stream, None)
    assert turn.thread == "t" and turn.kept is None
    result = asyncio.run(stream.run())
    assert turn.kept == result and isinstance(turn.kept, ChatResult)
    assert turn.kept.text == "one two three" and turn.kept.status is Status.COMPLETE
