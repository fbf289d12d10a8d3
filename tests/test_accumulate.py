"""Folding wire events into the reply so far, with a clock the test moves."""

from __future__ import annotations

from nbstream.engine.accumulate import Accumulator
from nbstream.engine.result import (
    Finish,
    Notice,
    ReasoningDelta,
    Status,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from nbstream.engine.think import AnswerWasReasoning
from nbstream.engine.wire import Meta


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_text_reasoning_and_times_since_the_request() -> None:
    clock = Clock()
    acc = Accumulator(clock=clock)
    acc.start()
    clock.now += 0.5
    acc.apply(ReasoningDelta("\nhm "))
    clock.now += 1.0
    acc.apply(TextDelta("Hi"))
    clock.now += 0.25
    acc.apply(TextDelta(" there"))
    acc.apply(Finish("stop"))
    result = acc.result()
    assert (result.text, result.reasoning, result.status) == ("Hi there", "hm", Status.COMPLETE)
    timings = result.timings
    assert (timings.first_token, timings.first_answer_token, timings.last_token) == (0.5, 1.5, 1.75)


def test_without_a_finish_reason_the_reply_is_incomplete_and_usage_estimated() -> None:
    acc = Accumulator(clock=Clock())
    acc.apply(TextDelta("one two three"))
    result = acc.result(prompt_estimate=5)
    assert result.status is Status.INCOMPLETE and result.usage.estimated
    assert result.usage.prompt_tokens == 5 and result.usage.completion_tokens > 0


def test_the_servers_usage_wins_unless_it_is_all_zeros() -> None:
    acc = Accumulator(clock=Clock())
    acc.apply(TextDelta("hello"))
    acc.apply(UsageReport(Usage(3, 1, 4)))
    assert acc.result().usage == Usage(3, 1, 4)
    zeros = Accumulator(clock=Clock())
    zeros.apply(TextDelta("hello"))
    zeros.apply(UsageReport(Usage(0, 0, 0)))
    assert zeros.result().usage.estimated


def test_tool_call_pieces_are_joined_per_index_in_order() -> None:
    acc = Accumulator(clock=Clock())
    for delta in [ToolCallDelta(1, "b", "", "id-b"), ToolCallDelta(0, "get_", "{", "id-a"),
                  ToolCallDelta(0, "weather", '"x":1}'), ToolCallDelta(1, "", "{}")]:  # fmt: skip
        assert acc.apply(delta) == delta
    assert acc.result().tool_calls == (
        ToolCall(0, "id-a", "get_weather", '{"x":1}'),
        ToolCall(1, "id-b", "b", "{}"),
    )


def test_answer_that_was_reasoning_moves_over_and_a_notice_is_kept_once() -> None:
    acc = Accumulator(clock=Clock())
    acc.apply(TextDelta("thinking aloud"))
    assert acc.apply(AnswerWasReasoning()) is None
    acc.apply(TextDelta("4"))
    acc.apply(Notice("second choice ignored"))
    assert acc.apply(Notice("second choice ignored")) == Notice("second choice ignored")
    result = acc.result()
    assert (result.reasoning, result.text) == ("thinking aloud", "4")
    assert result.notices == ("second choice ignored",)


def test_meta_keeps_the_first_value_and_hidden_reasoning_is_not_shown() -> None:
    acc = Accumulator(clock=Clock(), hide_reasoning=True)
    assert acc.apply(Meta({"model": "m-1", "id": "c-1"})) is None
    acc.apply(Meta({"model": "m-2"}))
    acc.apply(ReasoningDelta("secret plan"))
    result = acc.result()
    assert (result.model, result.response_id, result.reasoning) == ("m-1", "c-1", "")
    assert acc.reasoning_chunks == 1 and acc.has_output


def test_stopped_by_the_token_limit_while_still_reasoning() -> None:
    acc = Accumulator(clock=Clock())
    acc.apply(ReasoningDelta("long thought"))
    acc.apply(Finish("length"))
    assert acc.stopped_reasoning
    acc.apply(TextDelta("answer"))
    assert not acc.stopped_reasoning
