"""Replaying a stored reply: the events a live view gets, at once or at the recorded pace
(on a clock the test moves), and what an interrupt leaves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nbstream.engine.result import (
    ChatResult,
    Event,
    Finish,
    Notice,
    Status,
    TextDelta,
    Timings,
    ToolCall,
    Usage,
    UsageReport,
)
from nbstream.settings import ReplayPace
from nbstream.store.cache import Entry
from nbstream.store.replay import ReplayStream

TEXT = "one two three four five"
RECORDED = ChatResult(
    text=TEXT,
    model="m",
    finish_reason="stop",
    usage=Usage(7, 10, 17),
    timings=Timings(started_at=1_764_547_200.0, first_token=0.5, last_token=2.5, total=2.75),
    notices=("only the first of several choices is shown",),
)


class VirtualClock:
    """Time that passes only when the replay sleeps (or when the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)  # the replay only yields here: between two words


def replay(
    result: ChatResult = RECORDED, pace: ReplayPace = ReplayPace.RECORDED, **kwargs: Any
) -> tuple[ReplayStream, VirtualClock, list[tuple[float, Event]]]:
    clock = VirtualClock()
    heard: list[tuple[float, Event]] = []
    stream = ReplayStream(
        Entry("key", 0.0, result),
        pace,
        lambda event: heard.append((clock.now, event)),
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )
    return stream, clock, heard


def test_an_instant_replay_sends_notices_the_whole_text_usage_then_the_finish() -> None:
    stream, _, heard = replay(pace=ReplayPace.INSTANT)
    result = asyncio.run(stream.run())
    assert [event for _, event in heard] == [
        Notice("only the first of several choices is shown"),
        TextDelta(TEXT),
        UsageReport(Usage(7, 10, 17)),
        Finish("stop"),
    ]
    assert {at for at, _ in heard} == {0.0}
    assert result.replayed and result.text == TEXT and result.status is Status.COMPLETE
    assert result == stream.snapshot() == stream.result


def test_a_recorded_replay_spreads_the_words_over_the_recorded_decode_time() -> None:
    stream, _, heard = replay()
    asyncio.run(stream.run())
    words = [(at, event.text) for at, event in heard if isinstance(event, TextDelta)]
    assert words == [
        (0.5, "one "),
        (1.0, "two "),
        (1.5, "three "),
        (2.0, "four "),
        (2.5, "five"),
    ]


def test_time_spent_showing_a_word_does_not_delay_the_next() -> None:
    clock = VirtualClock()
    arrivals: list[float] = []

    def slow_sink(event: Event) -> None:
        if isinstance(event, TextDelta):
            arrivals.append(clock.now)
            clock.now += 0.2  # the display took a while

    stream = ReplayStream(
        Entry("key", 0.0, RECORDED),
        ReplayPace.RECORDED,
        slow_sink,
        clock=clock,
        sleep=clock.sleep,
    )
    asyncio.run(stream.run())
    assert arrivals == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5])


def test_before_the_first_word_the_replay_looks_like_a_stream_waiting() -> None:
    stream, _, _ = replay()
    snapshot = stream.snapshot()
    assert snapshot.text == "" and snapshot.status is Status.INCOMPLETE
    assert snapshot.timings.first_token is None and snapshot.finish_reason is None
    assert not stream.has_output


def test_an_interrupted_replay_keeps_the_words_played_so_far() -> None:
    stream, _, heard = replay()

    async def main() -> None:
        task = asyncio.ensure_future(stream.run())
        while sum(isinstance(event, TextDelta) for _, event in heard) < 2:
            await asyncio.sleep(0)
        live = stream.snapshot()
        assert (live.text, live.usage.completion_tokens) == ("one two ", 3)  # 8/23 of 10
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    result = stream.result
    assert result is not None and result == stream.interrupted()
    assert (result.text, result.status, result.finish_reason) == (
        "one two ",
        Status.INTERRUPTED,
        None,
    )
    assert stream.has_output
    assert not any(isinstance(event, (UsageReport, Finish)) for _, event in heard)


def test_an_interrupt_before_the_first_word_leaves_nothing_to_keep() -> None:
    stream, _, _ = replay()
    result = stream.interrupted()
    assert result.status is Status.INTERRUPTED and result.text == ""
    assert not stream.has_output


def test_a_reply_of_tool_calls_only_replays_them_with_no_text() -> None:
    calls = (ToolCall(0, "c1", "get_weather", '{"city": "Paris"}'),)
    recorded = ChatResult(tool_calls=calls, finish_reason="tool_calls", model="m")
    stream, _, heard = replay(recorded)
    result = asyncio.run(stream.run())
    assert result.tool_calls == calls and stream.has_output
    assert [event for _, event in heard] == [UsageReport(Usage()), Finish("tool_calls")]
