"""`nbstream.stream` and `nbstream.astream`: the reply's text as it arrives, in order."""

from __future__ import annotations

import asyncio

import pytest

import nbstream
from nbstream.engine.result import Status
from nbstream.errors import NbStreamError
from nbstream.offline.requests import RequestRecord
from nbstream.session import Session

from .conftest import HANG, demo_session, text


@pytest.fixture
def session(server, log, monkeypatch) -> Session:
    return demo_session(server, monkeypatch, retries=2)


def test_stream_yields_deltas_then_holds_the_result(session) -> None:
    deltas = nbstream.stream("Hi", session=session, params=text("one two three"))
    assert deltas.result is None  # nothing is known before the reply is read
    pieces = list(deltas)
    assert pieces == ["one", " two", " three"]
    assert deltas.result.text == "one two three"
    assert deltas.result.usage.completion_tokens == 3


def test_closing_a_stream_early_closes_the_connection(session, log) -> None:
    slow = {"nbstream": {"tokens": 5000, "rate": 50}}  # 100 s: it cannot end on its own first
    with nbstream.stream("Hi", session=session, params=slow) as s:
        for _ in zip(range(3), s, strict=False):
            pass
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert s.result is None  # a stream left early holds no result


def test_stream_with_a_thread_records_the_exchange(session) -> None:
    list(nbstream.stream("Hi", session=session, thread="t", params=text("Hello")))
    (exchange,) = session.store.thread("t").exchanges
    assert (exchange.user, exchange.result.text) == ("Hi", "Hello")


def test_an_empty_prompt_is_refused_before_any_request(session, log) -> None:
    with pytest.raises(NbStreamError, match="empty prompt"):
        nbstream.stream(" \n", session=session)
    with pytest.raises(NbStreamError, match="empty prompt"):
        nbstream.astream("", session=session)
    assert log.records == []


def test_astream_yields_deltas_then_holds_the_result(session) -> None:
    async def main() -> tuple[list[str], nbstream.AsyncTextStream]:
        deltas = nbstream.astream("Hi", session=session, params=text("a b c"))
        return [piece async for piece in deltas], deltas

    pieces, deltas = asyncio.run(main())
    assert pieces == ["a", " b", " c"]
    assert deltas.result is not None and deltas.result.text == "a b c"
    assert deltas.result.status is Status.COMPLETE


def ended_disconnected(records: list[RequestRecord]) -> bool:
    return records[-1].outcome == "disconnected"


def test_leaving_an_astream_early_closes_the_connection(session, log) -> None:
    async def main() -> bool:
        slow = {"nbstream": {"tokens": 5000, "rate": 50}}  # 100 s: it cannot end on its own first
        deltas = nbstream.astream("Hi", session=session, params=slow)
        async for _ in deltas:
            break
        # Waited for while this loop still runs: the closed loop of a finished `asyncio.run`
        # would end the stream on its own, by refusing the next delta.
        return await asyncio.to_thread(log.wait_for, ended_disconnected, HANG)

    assert asyncio.run(main())
