"""The offline server's tool demo: it calls the first offered tool with arguments that fit its
schema, answers with what the tools returned, and refuses a history OpenAI would refuse."""

from __future__ import annotations

from typing import Any

import pytest

from nbstream.offline.requests import Refusal
from nbstream.offline.tooldemo import (
    check_tool_messages,
    example,
    responses_messages,
    tool_answer,
    tool_deltas,
)

WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}  # fmt: skip
CLOCK = {"type": "function", "function": {"name": "clock", "parameters": {}}}
ASKED = [{"role": "user", "content": "Weather?"}]
ANSWERED = [
    *ASKED,
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
     "function": {"name": "weather", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
]  # fmt: skip


def calls(deltas: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (name, arguments) each call's deltas add up to, in index order."""
    found: dict[int, list[str]] = {}
    for delta in deltas[1:]:
        (part,) = delta["tool_calls"]
        name = part["function"].get("name")
        found.setdefault(part["index"], [name or "", ""])[1] += part["function"]["arguments"]
    return [(name, arguments) for name, arguments in found.values()]


def test_a_request_with_tools_gets_a_call_to_the_first_one_and_without_tools_text() -> None:
    deltas = tool_deltas({"model": "nbstream-demo", "tools": [WEATHER, CLOCK],
                          "messages": ASKED}, {})  # fmt: skip
    assert deltas is not None and deltas[0] == {"role": "assistant", "content": None}
    assert calls(deltas) == [("weather", '{"city":"Paris"}')]
    assert tool_deltas({"model": "nbstream-demo", "messages": ASKED}, {}) is None


def test_options_ask_for_parallel_calls_and_given_arguments() -> None:
    body = {"model": "nbstream-demo", "tools": [WEATHER, CLOCK], "messages": ASKED}
    deltas = tool_deltas(body, {"tool_calls": 3, "tool_arguments": '{"city": "Oslo"}'})
    assert calls(deltas or []) == [("weather", '{"city": "Oslo"}'), ("clock", '{"city": "Oslo"}'),
                                   ("weather", '{"city": "Oslo"}')]  # fmt: skip


@pytest.mark.parametrize(
    ("model", "first", "then"),
    [
        ("fault-tool-bad-json", ("weather", '{"oops": '), None),
        ("fault-tool-unknown", ("no_such_tool", "{}"), None),
        ("fault-tool-loop", ("weather", '{"city":"Paris"}'), [("weather", '{"city":"Paris"}')]),
    ],
)
def test_fault_models_misbehave_in_the_loop(model: str, first: Any, then: Any) -> None:
    asked = tool_deltas({"model": model, "tools": [WEATHER], "messages": ASKED}, {})
    assert calls(asked or []) == [first]
    again = tool_deltas({"model": model, "tools": [WEATHER], "messages": ANSWERED}, {})
    assert (again if again is None else calls(again)) == then


def test_once_the_results_are_in_it_answers_with_them() -> None:
    assert tool_answer({"messages": ASKED}) is None
    two = [*ANSWERED, {"role": "tool", "tool_call_id": "c2", "content": "windy"}]
    assert tool_answer({"messages": two}) == (
        "The tool said “sunny”; “windy”. That is my answer (offline demo)."
    )


def test_responses_items_become_one_assistant_message_with_its_calls_then_the_outputs() -> None:
    items = [
        {"role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "clock", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "c2", "output": "noon"},
    ]
    messages = responses_messages(items)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c1", "c2"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == [("c1", "sunny"),
                                                                       ("c2", "noon")]  # fmt: skip


def test_the_demo_builds_arguments_from_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    assert example(schema) == {"unit": "c", "days": 2, "tags": ["Paris"]}


def test_the_server_refuses_a_tool_message_that_does_not_follow_its_call(server) -> None:
    import openai

    client = openai.OpenAI(base_url=server.url, api_key="none", max_retries=0)
    bad = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "x", "content": "1"}]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="nbstream-demo", messages=bad)  # type: ignore[arg-type]
    assert "must be a response to a preceeding message with 'tool_calls'" in str(refused.value)
    unanswered = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
          "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "well?"},
    ]  # fmt: skip
    with pytest.raises(openai.BadRequestError, match="Missing: c1"):
        client.chat.completions.create(model="nbstream-demo", messages=unanswered)  # type: ignore[arg-type]


def test_a_call_is_answered_once_and_a_second_answer_is_refused() -> None:
    check_tool_messages(ANSWERED)
    twice = [*ANSWERED, {"role": "tool", "tool_call_id": "c1", "content": "again"}]
    with pytest.raises(Refusal, match=r"messages\[3\]"):
        check_tool_messages(twice)
