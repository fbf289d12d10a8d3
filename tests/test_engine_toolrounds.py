"""The rounds of a tool loop as data: written as Chat Completions messages, each tool message
after its call, and rebuilt from what the store saved."""

from __future__ import annotations

import dataclasses

from nbstream.engine.toolrounds import Outcome, ToolRound, ToolRun, round_messages

ROUND = ToolRound(
    runs=(
        ToolRun(id="c1", name="weather", arguments='{"city":"Paris"}', output="sunny"),
        ToolRun(id="c2", name="delete", arguments="{}", output="denied", outcome=Outcome.DENIED),
    ),
    text="Let me look.",
    reasoning_items=({"type": "reasoning", "id": "r1"},),
)


def test_calls_become_an_assistant_message_then_one_tool_message_each_in_call_order() -> None:
    assert round_messages([ROUND, ToolRound(runs=(ROUND.runs[0],))]) == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
                {"id": "c2", "type": "function",
                 "function": {"name": "delete", "arguments": "{}"}},
            ],
            "reasoning_items": [{"type": "reasoning", "id": "r1"}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "denied"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]  # fmt: skip


def test_a_saved_round_comes_back_equal_and_an_old_record_reads_as_ok() -> None:
    assert ToolRound.from_dict(dataclasses.asdict(ROUND)) == ROUND
    old = {"runs": [{"id": "c1", "name": "f", "arguments": "{}"}], "text": None}
    assert ToolRound.from_dict(old) == ToolRound(runs=(ToolRun("c1", "f", "{}"),))
    assert ToolRound.from_dict({}) == ToolRound()
