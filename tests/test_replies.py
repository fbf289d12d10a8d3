"""The offline server's replies: tokens that join back exactly, chunks, usage, whole bodies."""

from __future__ import annotations

import json

from nbstream.offline.replies import DONE, Reply, filler, merge, text_deltas, tokenize


def reply(tokens: list[str], **changes: object) -> Reply:
    values: dict = {"model": "m", "choices": [text_deltas(tokens)], "finish": ["stop"],
                    "prompt_tokens": 4, "include_usage": True, **changes}  # fmt: skip
    return Reply(**values)


def events(data: bytes) -> list[str]:
    return [e.removeprefix("data: ") for e in data.decode().split("\n\n") if e]


def test_tokens_join_back_to_the_text_byte_for_byte() -> None:
    text = "  Hello,\n\n wörld 👋\r\nend "
    assert "".join(tokenize(text)) == text
    assert tokenize("one two") == ["one", " two"]


def test_filler_has_the_asked_count_and_ends_a_sentence() -> None:
    tokens = filler(50)
    assert len(tokens) == 50 and tokens[-1].endswith(".") and tokens[0][0].isupper()
    assert tokens[48].startswith("\n\n")  # a new paragraph every 48 tokens


def test_usage_counts_every_delta_after_the_role_one_plus_hidden_reasoning() -> None:
    assert reply(["a", " b", " c"]).usage() == {
        "prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7,
    }  # fmt: skip
    hidden = reply(["a"], hidden=5).usage()
    assert hidden["completion_tokens"] == 6
    assert hidden["completion_tokens_details"] == {"reasoning_tokens": 5}
    assert reply(["a"], zero_usage=True).usage()["total_tokens"] == 0


def test_the_end_carries_the_finish_the_usage_chunk_and_done() -> None:
    ending = events(reply(["a"]).end().data)
    assert json.loads(ending[0])["choices"][0]["finish_reason"] == "stop"
    assert json.loads(ending[1])["choices"] == [] and json.loads(ending[1])["usage"]
    assert ending[2] == "[DONE]"
    no_usage = reply(["a"], include_usage=False).end(done=False).data
    assert DONE not in no_usage and len(events(no_usage)) == 1


def test_the_body_sends_the_role_with_the_first_token_then_one_write_per_token() -> None:
    writes = reply(["a", " b"]).body()
    assert [w.events for w in writes] == [2, 1] and all(w.paced for w in writes)
    first = [json.loads(e)["choices"][0]["delta"] for e in events(writes[0].data)]
    assert first == [{"role": "assistant", "content": "", "refusal": None}, {"content": "a"}]


def test_a_whole_reply_is_the_streamed_deltas_merged() -> None:
    whole = reply(["Hi", " there"]).whole()
    assert whole["object"] == "chat.completion"
    assert whole["choices"][0]["message"]["content"] == "Hi there"
    calls = merge([
        {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "get_", "arguments": "{"}}]},
        {"tool_calls": [{"index": 0, "function": {"name": "weather", "arguments": "}"}}]},
    ])  # fmt: skip
    assert calls["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    ]
