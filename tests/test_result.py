"""The accumulator: chunks to events and a result, whatever the chunk boundaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nbstream.engine.result import (
    ChatResult,
    Finish,
    Status,
    TextDelta,
    Timings,
    ToolCall,
    Usage,
    UsageReport,
    estimate_tokens,
)

from .folding import Fold


def chunk(content=None, *, finish=None, index=0, usage=None, choices=True, **delta):
    if content is not None:
        delta["content"] = content
    body = {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}] if choices else [],
        "usage": usage,
    }  # fmt: skip
    return body


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_role_only_null_content_and_usage_only_chunks() -> None:
    clock = Clock()
    acc = Fold(clock=clock)
    assert acc.feed(chunk(role="assistant", content="")) == []
    clock.now = 0.25
    assert acc.feed(chunk("Hel")) == [TextDelta("Hel")]
    clock.now = 0.5
    acc.feed(chunk("lo"))
    assert acc.feed(chunk(finish="stop")) == [Finish("stop")]
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
             "completion_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip
    (report,) = acc.feed(chunk(choices=False, usage=usage))
    assert isinstance(report, UsageReport) and report.usage.total_tokens == 7
    clock.now = 0.75
    result = acc.result()
    assert result.text == "Hello" and result.status is Status.COMPLETE
    assert result.timings.first_token == 0.25 and result.timings.last_token == 0.5
    assert result.timings.total == 0.75 and result.chunk_count == 5
    assert result.usage.details == {"completion_tokens_details": {"reasoning_tokens": 0}}
    assert result.tokens_per_second == 4.0


def test_no_finish_reason_means_incomplete_and_usage_is_estimated() -> None:
    acc = Fold()
    acc.feed(chunk("one"))
    acc.feed(chunk(" two"))
    result = acc.result(prompt_estimate=9)
    assert result.status is Status.INCOMPLETE
    assert result.usage == Usage(9, 2, 11, {}, estimated=True)


def test_tool_calls_accumulate_across_chunks() -> None:
    acc = Fold()
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    acc.feed(chunk(tool_calls=[call]))
    acc.feed(chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"a"'}}]))
    acc.feed(chunk(tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}]))
    acc.feed(chunk(finish="tool_calls"))
    assert acc.result().tool_calls == (ToolCall(0, "call_1", "f", '{"a": 1}'),)


def test_other_choices_are_counted_in_a_notice_not_mixed_in() -> None:
    acc = Fold()
    acc.feed(chunk("zero"))
    acc.feed(chunk("one", index=1))
    assert acc.result().text == "zero"
    assert acc.result().notices == ("only the first of several choices is shown",)


@given(st.text(min_size=1), st.data())
def test_any_split_of_the_text_gives_the_same_reply(text: str, data) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(text) - 1, 1)), max_size=20)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    acc = Fold(think_tags=False)  # tags are test_wire's; here text is text
    streamed = []
    for piece in pieces:
        streamed += [e.text for e in acc.feed(chunk(piece)) if isinstance(e, TextDelta)]
    assert acc.result().text == text == "".join(streamed)


@given(st.lists(st.text(alphabet="ab 漢字語。\n😀", max_size=30), min_size=1), st.booleans())
def test_the_running_estimate_counts_what_the_whole_text_would(deltas, reasoned) -> None:
    """Each delta is counted once as it arrives; the total is what counting the whole says."""
    acc = Fold(think_tags=False)
    for delta in deltas:
        acc.feed(chunk(delta, reasoning_content="why" if reasoned else None))
    text = "".join(deltas)
    sent = sum(1 for d in deltas if d)
    by_chars = estimate_tokens(text)
    answer = sent if sent * 2 >= by_chars else by_chars
    reasoning = len(deltas) if reasoned else 0
    assert acc.result().usage.completion_tokens == answer + reasoning


def test_cjk_and_emoji_count_one_token_a_character() -> None:
    assert estimate_tokens("漢字語😀") == 4
    assert estimate_tokens("abcd" * 5 + "漢") == 6
    assert estimate_tokens("") == 0


def test_results_round_trip_through_dicts() -> None:
    result = ChatResult(
        text="t", status=Status.INTERRUPTED, usage=Usage(1, 2, 3, {"x": 1}, True, 1, 0, 0.01),
        timings=Timings(1.0, 0.1, 0.2, 0.3, 0.15), tool_calls=(ToolCall(0, "i", "n", "{}"),),
        notices=("n",), reasoning="why", reasoning_items=({"type": "reasoning"},),
    )  # fmt: skip
    assert ChatResult.from_dict(result.to_dict()) == result
    assert ChatResult.from_dict({**result.to_dict(), "future_field": 1}) == result
