"""OpenAI's Responses API through the real SDK against the shipped server's /v1/responses:
the documented event sequence, api=auto switching for a Responses-only model (remembered in a
real SQLite file), stateless multi-turn with encrypted reasoning, and the faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbstream.engine import loop
from nbstream.engine.result import Event, Notice, Status
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import ConfigError, RequestError, StreamError
from nbstream.session import Session
from nbstream.settings import Api, NbStream, Settings
from nbstream.store.apis import ServerMemory
from nbstream.turn import TurnOptions

from .conftest import SECRET_KEY

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]


def run(settings: Settings, model: str, *, apis: Any = None, messages=HELLO, **options: Any):
    params = options.pop("params", {})
    if options:
        params["nbstream"] = options
    events: list[Event] = []
    request = ChatRequest(list(messages), model, params)
    stream = ChatStream(request, settings, events.append, apis=apis)
    return loop.run(stream.run()), events


@pytest.fixture
def responses(settings: Settings) -> Settings:
    return settings.with_(api=Api.RESPONSES)


def test_a_reply_over_responses_is_stateless_and_asks_for_encrypted_reasoning(
    responses: Settings, log
) -> None:
    result, _ = run(responses, "nbstream-demo", params={"max_tokens": 400})
    assert result.status is Status.COMPLETE and result.finish_reason == "stop"
    assert result.text.startswith("**Offline demo reply**")
    assert result.response_id.startswith("resp_") and not result.usage.estimated
    (record,) = log.records
    assert record.endpoint == "responses"
    body = record.body
    assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]
    assert body["instructions"] == "Be brief." and body["max_output_tokens"] == 400
    assert body["input"] == [{"role": "user", "content": "Hello"}]


def test_reasoning_summaries_stream_as_reasoning(responses: Settings) -> None:
    result, _ = run(responses, "nbstream-reasoning", params={"reasoning_summary": "auto"})
    assert result.reasoning.startswith("The request has 2 messages")  # instructions count
    assert result.usage.reasoning_tokens == 37
    (item,) = result.reasoning_items
    assert item["type"] == "reasoning" and item["encrypted_content"]


def test_without_a_summary_reasoning_is_counted_not_shown(responses: Settings) -> None:
    result, _ = run(responses, "nbstream-reasoning", params={"reasoning_effort": "low"})
    assert result.reasoning == "" and result.usage.reasoning_tokens == 37
    assert result.hidden_reasoning


def test_encrypted_reasoning_goes_back_with_the_next_turn(responses: Settings, log) -> None:
    first, _ = run(responses, "nbstream-reasoning")
    history = [
        {"role": "user", "content": "Hello"},
        {
            "role": "assistant",
            "content": first.text,
            "reasoning_items": list(first.reasoning_items),
        },
        {"role": "user", "content": "And then?"},
    ]
    run(responses, "nbstream-reasoning", messages=history)
    sent = log.records[-1].body["input"]
    assert [item.get("type", item.get("role")) for item in sent] == [
        "user", "reasoning", "assistant", "user"
    ]  # fmt: skip
    assert sent[1]["encrypted_content"] == first.reasoning_items[0]["encrypted_content"]


def test_reasoning_items_are_not_sent_over_chat_completions(settings: Settings, log) -> None:
    history = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi", "reasoning_items": [{"type": "reasoning"}]},
        {"role": "user", "content": "And then?"},
    ]
    run(settings.with_(api=Api.CHAT), "nbstream-demo", messages=history)
    assert all("reasoning_items" not in m for m in log.records[-1].body["messages"])


def test_auto_switches_to_responses_for_a_responses_only_model_and_remembers(
    settings: Settings, log, tmp_path: Path
) -> None:
    memory = ServerMemory(tmp_path / "apis.sqlite")
    result, events = run(settings, "fault-responses-only", apis=memory)
    assert result.status is Status.COMPLETE and result.text
    assert [r.endpoint for r in log.records] == ["chat", "responses"]
    assert Notice("fault-responses-only is served on /v1/responses: using it") in events
    log.clear()
    reopened = ServerMemory(tmp_path / "apis.sqlite")  # as after a kernel restart
    run(settings, "fault-responses-only", apis=reopened)
    assert [r.endpoint for r in log.records] == ["responses"]


class Remembered:
    """A memory that knows `fault-responses-only` at hand, or (`at_hand=False`) only by
    reading its file; it counts the blocking reads."""

    def __init__(self, at_hand: bool) -> None:
        self.at_hand, self.blocking_reads = at_hand, 0

    def responses_only_at_hand(self, base_url: str, model: str) -> bool | None:
        return model == "fault-responses-only" if self.at_hand else None

    def responses_only(self, base_url: str, model: str) -> bool:
        self.blocking_reads += 1
        return model == "fault-responses-only"


def test_an_answer_at_hand_is_used_without_a_blocking_read(settings: Settings, log) -> None:
    for at_hand, reads in ((True, 0), (False, 1)):
        memory = Remembered(at_hand)
        log.clear()
        run(settings, "fault-responses-only", apis=memory)
        assert [r.endpoint for r in log.records] == ["responses"]
        assert memory.blocking_reads == reads


def test_a_responses_only_model_under_api_chat_is_not_called_unknown(settings: Settings) -> None:
    with pytest.raises(RequestError) as caught:
        run(settings.with_(api=Api.CHAT), "fault-responses-only")
    assert type(caught.value) is RequestError
    assert "/v1/responses" in caught.value.hint


def test_reasoning_summary_over_chat_is_a_one_line_error_before_any_request(
    settings: Settings, log
) -> None:
    with pytest.raises(ConfigError, match="needs the Responses API"):
        run(settings.with_(api=Api.CHAT), "nbstream-demo", params={"reasoning_summary": "auto"})
    assert log.records == []
    result, _ = run(settings, "nbstream-reasoning", params={"reasoning_summary": "concise"})
    assert log.records[-1].endpoint == "responses" and result.reasoning


@pytest.mark.parametrize(
    ("model", "status", "finish"),
    [
        ("fault-length", Status.COMPLETE, "length"),
        ("fault-no-finish", Status.INCOMPLETE, None),
        ("fault-disconnect", Status.INCOMPLETE, None),
        ("fault-tool-calls", Status.COMPLETE, "tool_calls"),
        ("fault-refusal", Status.COMPLETE, "stop"),
    ],
)
def test_responses_faults_end_as_their_chat_twins(
    responses: Settings, model: str, status: Status, finish: str | None
) -> None:
    result, _ = run(responses, model)
    assert result.status is status and result.finish_reason == finish
    if model == "fault-tool-calls":
        assert [(c.id, c.name) for c in result.tool_calls] == [
            ("call_1", "get_weather"), ("call_2", "get_weather")
        ]  # fmt: skip
        assert json.loads(result.tool_calls[1].arguments) == {"city": "London", "unit": "C"}
    if model == "fault-refusal":
        assert result.refusal == "I can't help with that."


def test_an_error_event_over_responses_keeps_the_partial_reply(responses: Settings) -> None:
    with pytest.raises(StreamError, match="crashed mid-stream") as caught:
        run(responses, "fault-error-event")
    assert caught.value.result.status is Status.FAILED and caught.value.result.text


def test_a_whole_responses_object_is_read_like_a_stream(responses: Settings) -> None:
    result, _ = run(responses, "fault-json", text="all at once")
    assert result.text == "all at once" and result.status is Status.COMPLETE


# https://platform.openai.com/docs/api-reference/responses-streaming: the documented event
# sequence of a reasoning model with a summary, shortened (fields as documented).
OPENAI_RESPONSES = [
    {"type": "response.created", "sequence_number": 0, "response": {
        "id": "resp_67c", "object": "response", "created_at": 1741290958, "status": "in_progress",
        "model": "o4-mini-2025-04-16", "output": [], "usage": None}},
    {"type": "response.in_progress", "sequence_number": 1, "response": {
        "id": "resp_67c", "object": "response", "status": "in_progress", "output": []}},
    {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
     "item": {"id": "rs_67c", "type": "reasoning", "summary": []}},
    {"type": "response.reasoning_summary_part.added", "sequence_number": 3, "item_id": "rs_67c",
     "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
    {"type": "response.reasoning_summary_text.delta", "sequence_number": 4, "item_id": "rs_67c",
     "output_index": 0, "summary_index": 0, "delta": "**Comparing decimals**"},
    {"type": "response.reasoning_summary_text.done", "sequence_number": 5, "item_id": "rs_67c",
     "output_index": 0, "summary_index": 0, "text": "**Comparing decimals**"},
    {"type": "response.output_item.done", "sequence_number": 6, "output_index": 0,
     "item": {"id": "rs_67c", "type": "reasoning", "encrypted_content": "gAAAAB",
              "summary": [{"type": "summary_text", "text": "**Comparing decimals**"}]}},
    {"type": "response.output_item.added", "sequence_number": 7, "output_index": 1,
     "item": {"id": "msg_67c", "type": "message", "status": "in_progress", "role": "assistant",
              "content": []}},
    {"type": "response.content_part.added", "sequence_number": 8, "item_id": "msg_67c",
     "output_index": 1, "content_index": 0,
     "part": {"type": "output_text", "text": "", "annotations": []}},
    {"type": "response.output_text.delta", "sequence_number": 9, "item_id": "msg_67c",
     "output_index": 1, "content_index": 0, "delta": "9.8 is"},
    {"type": "response.output_text.delta", "sequence_number": 10, "item_id": "msg_67c",
     "output_index": 1, "content_index": 0, "delta": " greater."},
    {"type": "response.output_text.done", "sequence_number": 11, "item_id": "msg_67c",
     "output_index": 1, "content_index": 0, "text": "9.8 is greater."},
    {"type": "response.completed", "sequence_number": 12, "response": {
        "id": "resp_67c", "object": "response", "status": "completed",
        "model": "o4-mini-2025-04-16", "usage": {
            "input_tokens": 20, "input_tokens_details": {"cached_tokens": 16},
            "output_tokens": 140, "output_tokens_details": {"reasoning_tokens": 128},
            "total_tokens": 160}}},
]  # fmt: skip


def test_openais_documented_responses_stream(responses: Settings) -> None:
    replay = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in OPENAI_RESPONSES)
    result, _ = run(responses, "nbstream-demo", replay=replay)
    assert result.status is Status.COMPLETE and result.model == "o4-mini-2025-04-16"
    assert (result.reasoning, result.text) == ("**Comparing decimals**", "9.8 is greater.")
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (20, 140, 160)
    assert (usage.reasoning_tokens, usage.cached_tokens) == (128, 16)
    assert result.reasoning_items[0]["encrypted_content"] == "gAAAAB"


def test_the_api_setting_is_an_enum_with_a_one_line_error(server, tmp_path: Path) -> None:
    session = Session(NbStream(api="sideways", base_url=server.url), cache=tmp_path / "c.sqlite")
    with pytest.raises(ConfigError, match="api must be one of chat, responses, auto"):
        session.settings(TurnOptions())
    session.config.api = "responses"
    assert session.settings(TurnOptions()).api is Api.RESPONSES
    assert session.settings(TurnOptions(api=Api.CHAT)).api is Api.CHAT
    assert SECRET_KEY not in repr(session.settings(TurnOptions()))
