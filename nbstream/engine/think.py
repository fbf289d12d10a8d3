"""Reasoning inside `content`: `<think>…</think>` (Qwen, many local models) split from the answer.

Only a `<think>` that opens the reply counts, never one later in the answer. Models whose chat
template already put `<think>` in the prompt (DeepSeek-R1, QwQ, some Qwen3) stream only the
closing tag: content before a lone `</think>` outside code turns out to have been reasoning,
which `AnswerWasReasoning` tells the accumulator. A text that may be the start of a tag is held
back until the next delta decides it, so tags split across chunks are found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .result import ReasoningDelta, TextDelta

OPEN, CLOSE = "<think>", "</think>"
_FENCE = re.compile(r"(?m)^[ \t]{0,3}(?:```|~~~)")


@dataclass(frozen=True)
class AnswerWasReasoning:
    """Everything streamed as answer so far was reasoning (a lone `</think>` followed it)."""


Piece = TextDelta | ReasoningDelta | AnswerWasReasoning


class _State(Enum):
    START = "start"  # nothing decided: the reply may open with <think>
    THINKING = "thinking"  # inside <think>, waiting for </think>
    AFTER = "after"  # just after </think>: whitespace before the answer is dropped
    ANSWER = "answer"  # answer text; a lone </think> would still make it reasoning
    SETTLED = "settled"  # answer text, for good


class ThinkSplitter:
    """Feed it content deltas in order; it returns answer and reasoning pieces."""

    def __init__(self) -> None:
        self._state = _State.START
        self._held = ""  # text that may be the start of a tag
        self._answer = ""  # answer emitted in ANSWER: to tell whether a </think> is inside code

    def feed(self, text: str) -> list[Piece]:
        """The pieces this delta completes."""
        buffer, self._held = self._held + text, ""
        return self._step(buffer)

    def end(self) -> list[Piece]:
        """The stream ended: whatever is held back is what it seemed."""
        held, self._held = self._held, ""
        if not held:
            return []
        if self._state is _State.THINKING:
            return [ReasoningDelta(held)]
        return [TextDelta(held)]

    def _step(self, buffer: str) -> list[Piece]:
        if self._state is _State.START:
            return self._start(buffer)
        if self._state is _State.THINKING:
            return self._thinking(buffer)
        if self._state is _State.AFTER:
            return self._after(buffer)
        if self._state is _State.ANSWER:
            return self._open_answer(buffer)
        return [TextDelta(buffer)] if buffer else []

    def _start(self, buffer: str) -> list[Piece]:
        stripped = buffer.lstrip()
        if stripped.startswith(OPEN):
            self._state = _State.THINKING
            return self._thinking(stripped[len(OPEN) :])
        if OPEN.startswith(stripped):
            self._held = buffer
            return []
        self._state = _State.ANSWER
        return self._open_answer(buffer)

    def _thinking(self, buffer: str) -> list[Piece]:
        end = buffer.find(CLOSE)
        if end < 0:
            cut = len(buffer) - _partial_tag(buffer)
            self._held = buffer[cut:]
            return [ReasoningDelta(buffer[:cut])] if cut else []
        self._state = _State.AFTER
        head = [ReasoningDelta(buffer[:end])] if end else []
        return head + self._after(buffer[end + len(CLOSE) :])

    def _after(self, buffer: str) -> list[Piece]:
        answer = buffer.lstrip()
        if not answer:
            return []
        self._state = _State.SETTLED
        return [TextDelta(answer)]

    def _open_answer(self, buffer: str) -> list[Piece]:
        start = 0
        while (end := buffer.find(CLOSE, start)) >= 0:
            if _lone(self._answer + buffer[:end]):
                self._state, self._answer = _State.AFTER, ""
                head = [ReasoningDelta(buffer[:end])] if end else []
                return [AnswerWasReasoning(), *head, *self._after(buffer[end + len(CLOSE) :])]
            start = end + 1
        cut = len(buffer) - _partial_tag(buffer)
        self._held = buffer[cut:]
        self._answer += buffer[:cut]
        return [TextDelta(buffer[:cut])] if cut else []


def _partial_tag(text: str) -> int:
    """How many characters at the end of `text` may begin a closing tag."""
    for size in range(min(len(CLOSE) - 1, len(text)), 0, -1):
        if text.endswith(CLOSE[:size]):
            return size
    return 0


def _lone(text: str) -> bool:
    """Whether a `</think>` after `text` closes a tag the prompt opened: no `<think>` in the
    answer before it, and not inside a fenced block or an inline code span."""
    if OPEN in text or len(_FENCE.findall(text)) % 2:
        return False
    return text[text.rfind("\n") + 1 :].count("`") % 2 == 0
