"""`<think>…</think>` inside content: reasoning split from the answer, at any chunk boundary."""

from __future__ import annotations

from nbstream.engine.result import ReasoningDelta, TextDelta
from nbstream.engine.think import AnswerWasReasoning, ThinkSplitter


def split(chunks: list[str]) -> tuple[str, str, int]:
    """(reasoning, answer, how often the answer so far turned out to be reasoning)."""
    splitter, reasoning, answer, flips = ThinkSplitter(), "", "", 0
    for piece in [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.end():
        if isinstance(piece, ReasoningDelta):
            reasoning += piece.text
        elif isinstance(piece, TextDelta):
            answer += piece.text
        else:
            assert isinstance(piece, AnswerWasReasoning)
            reasoning, answer, flips = reasoning + answer, "", flips + 1
    return reasoning, answer, flips


def test_a_reply_opening_with_think_is_split_at_every_chunk_boundary() -> None:
    reply = "<think>Add them: 2+2.</think>\n\nIt is 4."
    for cut in range(len(reply) + 1):
        assert split([reply[:cut], reply[cut:]]) == ("Add them: 2+2.", "It is 4.", 0), cut


def test_a_think_later_in_the_answer_is_answer_text() -> None:
    reply = "Use the <think> tag like this: <think>x</think>"
    assert split([reply]) == ("", reply, 0)


def test_a_lone_closing_tag_makes_what_came_before_it_reasoning() -> None:
    reasoning, answer, flips = split(["The user asks", " for 4.", "</think>", "\n\n4"])
    assert (reasoning, answer, flips) == ("The user asks for 4.", "4", 1)


def test_a_closing_tag_inside_code_stays_answer() -> None:
    reply = "Like this:\n```html\n</think>\n```\ndone"
    assert split([reply]) == ("", reply, 0)


def test_text_held_as_a_possible_tag_comes_out_at_the_end() -> None:
    assert split(["Hello <thi"]) == ("", "Hello <thi", 0)
    assert split(["<think>still thinking"]) == ("still thinking", "", 0)
