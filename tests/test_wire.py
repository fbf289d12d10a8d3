"""The normaliser: SSE bytes, every Chat Completions dialect and Responses events to one set of
events, whatever the split points."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbstream.engine.result import ReasoningDelta, Status, TextDelta
from nbstream.engine.sse import Comment, ServerEvent, SSEParser
from nbstream.engine.think import AnswerWasReasoning, ThinkSplitter
from nbstream.engine.wire import ChatWire, ServerError, usage_from

from .folding import Fold


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c1", "model": "m", "created": 1, "choices": choices, "usage": usage}


SSE = (
    b": keep-alive\r\n\r\n"
    b'data: {"a": "caf\xc3\xa9 \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb \xe2\x80\xa8"}\r\n\r\n'
    b"event: response.output_text.delta\n"
    b'data: {"b":\n'
    b"data: 1}\n\n"
    b'data:{"c": 2}\r\r'
    b"data: [DONE]\n\n"
)
EXPECTED = [
    Comment("keep-alive"),
    ServerEvent('{"a": "café 👩\u200d💻 \u2028"}'),
    ServerEvent('{"b":\n1}', "response.output_text.delta"),
    ServerEvent('{"c": 2}'),
    ServerEvent("[DONE]"),
]


def parse(pieces: list[bytes]) -> list[ServerEvent | Comment]:
    parser = SSEParser()
    return [item for piece in pieces for item in parser.feed(piece)]


@pytest.mark.parametrize("cut", range(1, len(SSE)))
def test_sse_events_are_the_same_at_every_split_point(cut: int) -> None:
    assert parse([SSE[:cut], SSE[cut:]]) == EXPECTED


def test_sse_one_byte_at_a_time_keeps_multibyte_characters_and_u2028_inside_lines() -> None:
    assert parse([SSE[i : i + 1] for i in range(len(SSE))]) == EXPECTED


THINK = "<think>Plan: add 2 and 2.\nCheck </thin twice.</think>\n\nThe answer is **4**."


def split(text: str, pieces: list[str], splitter: ThinkSplitter | None = None) -> tuple[str, str]:
    """(reasoning, answer) after feeding `pieces`, as an accumulator would fold them."""
    splitter = splitter or ThinkSplitter()
    reasoning, answer = "", ""
    events = [e for piece in pieces for e in splitter.feed(piece)] + splitter.end()
    for event in events:
        if isinstance(event, AnswerWasReasoning):
            reasoning, answer = reasoning + answer, ""
        elif isinstance(event, ReasoningDelta):
            reasoning += event.text
        else:
            answer += event.text
    return reasoning, answer


@pytest.mark.parametrize("cut", range(len(THINK) + 1))
def test_think_tags_split_at_every_point(cut: int) -> None:
    assert split(THINK, [THINK[:cut], THINK[cut:]]) == (
        "Plan: add 2 and 2.\nCheck </thin twice.",
        "The answer is **4**.",
    )


LONE = "The user wants 4.\n</think>\n\nIt is 4."


@pytest.mark.parametrize("cut", range(len(LONE) + 1))
def test_content_before_a_lone_closing_tag_is_reasoning(cut: int) -> None:
    """DeepSeek-R1 and QwQ templates put <think> in the prompt: the reply only closes it."""
    assert split(LONE, [LONE[:cut], LONE[cut:]]) == ("The user wants 4.\n", "It is 4.")


@pytest.mark.parametrize(
    "text",
    [
        "Use `<think>` tags like <think>this</think>.",
        "Tags:\n\n```html\n</think>\n```\nand `</think>` inline.",
        "A < b and <thinking> is not a tag.",
    ],
)
def test_tags_inside_the_answer_or_code_stay_answer(text: str) -> None:
    assert split(text, list(text)) == ("", text)


@given(st.text(alphabet="<>/thinkab `\n", max_size=40), st.data())
def test_splitting_never_loses_or_reorders_text(text: str, data) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=6)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    reasoning, answer = split(text, pieces)
    whole, whole_answer = split(text, [text])
    assert (reasoning, answer) == (whole, whole_answer)
    kept = reasoning + answer
    assert len(kept) <= len(text) and set(kept) <= set(text)


def test_think_tags_can_be_switched_off() -> None:
    fold = Fold(think_tags=False)
    fold.feed(chunk({"content": THINK}, "stop"))
    result = fold.result()
    assert result.text == THINK and result.reasoning == ""


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_stream_as_reasoning_and_time_the_first_token(field: str) -> None:
    clock = Clock()
    fold = Fold(clock=clock)
    fold.feed(chunk({"role": "assistant", "content": ""}))
    for i, piece in enumerate(["Think", "ing", "."]):
        clock.now = 1.0 + i
        assert fold.feed(chunk({field: piece, "content": None})) == [ReasoningDelta(piece)]
    for i, piece in enumerate(["An", "swer"]):
        clock.now = 4.0 + i
        fold.feed(chunk({"content": piece}))
    fold.feed(chunk({}, "stop"))
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    fold.feed(chunk(usage=usage))
    result = fold.result()
    assert (result.reasoning, result.text) == ("Thinking.", "Answer")
    assert result.time_to_first_token == 1.0
    assert result.timings.first_answer_token == 4.0
    assert result.tokens_per_second == pytest.approx(4 / 4.0)  # 5 tokens over 1.0 … 5.0 s


def test_hidden_reasoning_is_left_out_of_the_speed_window() -> None:
    """OpenAI over Chat Completions counts reasoning_tokens but never streams them: they were
    generated before the first visible token, so tok/s covers the answer alone."""
    clock = Clock()
    fold = Fold(clock=clock)
    for i in range(5):
        clock.now = 8.0 + i / 10
        fold.feed(chunk({"content": f"w{i} "}))
    fold.feed(chunk({}, "stop"))
    usage = {"prompt_tokens": 9, "completion_tokens": 1029, "total_tokens": 1038,
             "completion_tokens_details": {"reasoning_tokens": 1024},
             "prompt_tokens_details": {"cached_tokens": 0}}  # fmt: skip
    fold.feed(chunk(usage=usage))
    result = fold.result()
    assert result.hidden_reasoning and result.usage.reasoning_tokens == 1024
    assert result.usage.cached_tokens == 0
    assert result.tokens_per_second == pytest.approx(4 / 0.4)


def test_hiding_reasoning_keeps_its_count_and_timing_but_not_its_text() -> None:
    fold = Fold(hide_reasoning=True)
    fold.feed(chunk({"reasoning_content": "secret plan"}))
    fold.feed(chunk({"content": "Hi"}, "stop"))
    result = fold.result()
    assert result.reasoning == "" and result.text == "Hi"
    assert result.usage.estimated and result.usage.reasoning_tokens == 3  # 11 characters
    assert result.timings.first_token is not None


def test_openrouter_sends_reasoning_twice_and_it_is_shown_once() -> None:
    """OpenRouter: `reasoning` and `reasoning_details` carry the same text in one delta."""
    fold = Fold()
    detail = {"type": "reasoning.text", "text": "Hmm", "format": "unknown", "index": 0}
    fold.feed(chunk({"reasoning": "Hmm", "reasoning_details": [detail]}))
    fold.feed(chunk({"content": "Yes"}, "stop"))
    result = fold.result()
    assert result.reasoning == "Hmm" and result.reasoning_items == (detail,)


def test_reasoning_details_alone_are_reasoning_text() -> None:
    fold = Fold()
    fold.feed(chunk({"reasoning_details": [{"type": "reasoning.summary", "summary": "Plan"}]}))
    assert fold.result().reasoning == "Plan"


def test_stopped_by_max_tokens_while_reasoning_is_noticed() -> None:
    fold = Fold()
    fold.feed(chunk({"reasoning_content": "Let me think about"}))
    fold.feed(chunk({"content": ""}, "length"))
    assert fold.acc.stopped_reasoning
    assert fold.result().text == "" and fold.result().reasoning == "Let me think about"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Groq (older API versions): usage only under x_groq on the last chunk.
        ({"x_groq": {"id": "req_1", "usage": {"prompt_tokens": 3, "completion_tokens": 4,
                                              "total_tokens": 7}}}, (3, 4, 7, None, None, None)),
        # OpenRouter / LiteLLM: the cost in dollars inside usage.
        ({"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                    "cost": 0.0012}}, (3, 4, 7, None, None, 0.0012)),
        # Gemini counts thoughts outside completion_tokens but inside total_tokens.
        ({"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 17,
                    "completion_tokens_details": {"reasoning_tokens": 10}}},
         (3, 14, 17, 10, None, None)),
        # DeepSeek: cache hits and reasoning tokens in the details.
        ({"usage": {"prompt_tokens": 30, "completion_tokens": 40, "total_tokens": 70,
                    "prompt_tokens_details": {"cached_tokens": 24},
                    "completion_tokens_details": {"reasoning_tokens": 35}}},
         (30, 40, 70, 35, 24, None)),
    ],
)  # fmt: skip
def test_provider_usage_fields_are_read(raw: dict, expected: tuple) -> None:
    fold = Fold()
    fold.feed(chunk({"content": "x"}, "stop"))
    fold.feed({"choices": [], **raw})
    usage = fold.result().usage
    got = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens,
           usage.reasoning_tokens, usage.cached_tokens, usage.cost)  # fmt: skip
    assert got == expected and not usage.estimated


def test_all_zero_usage_with_a_reply_is_treated_as_missing() -> None:
    """LitServe sends zeros when it does not count."""
    fold = Fold()
    fold.feed(chunk({"content": "Four words right here"}, "stop"))
    fold.feed(chunk(usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}))
    usage = fold.result(prompt_estimate=7).usage
    assert usage.estimated and usage.completion_tokens == 6 and usage.prompt_tokens == 7


def test_an_in_band_rate_limit_error_is_recognised() -> None:
    event = ChatWire().feed({"error": {"code": "rate_limit_exceeded", "message": "slow down"}})
    assert event == [ServerError("slow down", "rate_limit_exceeded")]
    assert event[0].rate_limited
    assert not ServerError("model crashed", "server_error").rate_limited


RESPONSES = [
    {"type": "response.created", "response": {"id": "resp_1", "model": "o4-mini",
                                              "created_at": 5, "status": "in_progress"}},
    {"type": "response.output_item.added", "output_index": 0,
     "item": {"type": "reasoning", "id": "rs_1", "summary": []}},
    {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0,
     "delta": "**Plan**"},
    {"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 1,
     "delta": "Then add."},
    {"type": "response.output_item.done", "output_index": 0,
     "item": {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA"}},
    {"type": "response.output_item.added", "output_index": 1,
     "item": {"type": "function_call", "call_id": "call_9", "name": "add", "arguments": ""}},
    {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"a":'},
    {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": " 2}"},
    {"type": "response.output_text.delta", "output_index": 2, "delta": "Four"},
    {"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
     "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 8},
               "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20},
               "total_tokens": 42}}},
]  # fmt: skip


def test_responses_events_fold_into_the_same_result() -> None:
    fold = Fold(responses=True)
    for event in RESPONSES:
        fold.feed(json.loads(json.dumps(event)))
    result = fold.result()
    assert result.status is Status.COMPLETE and result.finish_reason == "tool_calls"
    assert (result.model, result.response_id) == ("o4-mini", "resp_1")
    assert result.reasoning == "**Plan**\n\nThen add." and result.text == "Four"
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_9", "add", '{"a": 2}')
    ]
    assert result.reasoning_items == ({"type": "reasoning", "id": "rs_1",
                                       "encrypted_content": "gAAA"},)  # fmt: skip
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (12, 30, 20)
    assert usage.cached_tokens == 8


def test_responses_incomplete_is_a_length_stop_and_failed_is_an_error() -> None:
    fold = Fold(responses=True)
    fold.feed({"type": "response.reasoning_text.delta", "delta": "hmm"})
    incomplete = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    fold.feed({"type": "response.incomplete", "response": incomplete})
    assert fold.result().finish_reason == "length" and fold.acc.stopped_reasoning
    failed = {"status": "failed", "error": {"code": "server_error", "message": "boom"}}
    events = Fold(responses=True).wire.feed({"type": "response.failed", "response": failed})
    assert events[-1] == ServerError("boom", "server_error")


def test_usage_from_ignores_what_is_not_usage() -> None:
    assert usage_from(None) is None and usage_from("12") is None
    assert usage_from({"prompt_tokens": True}).prompt_tokens == 0


def test_text_deltas_passed_on_match_the_answer() -> None:
    fold = Fold()
    passed = []
    for piece in ["<thi", "nk>a</th", "ink>", "B", "c"]:
        passed += fold.feed(chunk({"content": piece}))
    texts = "".join(e.text for e in passed if isinstance(e, TextDelta))
    assert texts == fold.result().text == "Bc"
