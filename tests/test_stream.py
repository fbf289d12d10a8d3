"""ChatStream: one turn's request, streamed, its events to a sink, its ending as a status."""

from __future__ import annotations

import asyncio

import pytest

from nbstream.engine.result import Finish, Notice, Status, TextDelta, UsageReport
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import StreamError

from .conftest import HANG


def request(model: str = "nbstream-demo", **nbstream: object) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": "Hi"}], model, {"nbstream": nbstream})


def test_the_sink_gets_the_events_in_order_and_the_result_is_complete(settings, log) -> None:
    events: list[object] = []
    stream = ChatStream(request(text="one two"), settings, events.append, notice="demo server")
    result = asyncio.run(stream.run())
    assert result.text == "one two" and result.status is Status.COMPLETE
    assert events[0] == Notice("demo server")
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one", " two"]
    kinds = [type(e) for e in events if isinstance(e, (TextDelta, Finish, UsageReport))]
    assert kinds[-2:] in ([Finish, UsageReport], [UsageReport, Finish])
    assert stream.result == result and stream.snapshot() == result and stream.has_output
    assert len(log.records) == 1


def test_nothing_arrived_means_no_output_and_an_empty_snapshot(settings) -> None:
    stream = ChatStream(request(text="x"), settings)
    assert not stream.has_output and stream.result is None
    assert stream.snapshot().text == "" and stream.snapshot().status is Status.INCOMPLETE


def test_cancelling_ends_the_turn_interrupted_with_the_partial_reply(settings, log) -> None:
    async def main() -> ChatStream:
        stream = ChatStream(request(tokens=500, rate=50), settings)
        task = asyncio.ensure_future(stream.run())
        while not stream.has_output:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return stream

    stream = asyncio.run(main())
    assert stream.result is not None and stream.result.status is Status.INTERRUPTED
    assert stream.result.text and stream.interrupted() is stream.result
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)


def test_an_error_after_tokens_fails_the_turn_and_keeps_the_partial(settings) -> None:
    stream = ChatStream(request("fault-error-event"), settings)
    with pytest.raises(StreamError) as caught:
        asyncio.run(stream.run())
    assert caught.value.result.status is Status.FAILED and caught.value.result.text
    assert stream.result is not None and stream.result.status is Status.FAILED
