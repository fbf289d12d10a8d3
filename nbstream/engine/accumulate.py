"""Folds the wire's events into the reply so far: text, reasoning, tool calls, usage, timings.

Pure logic with an injectable clock; times are seconds since `start()`. The first token of
any kind (reasoning included) is the time to first token; the answer's first token is kept
apart, so that the footer can say when the answer began.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .result import (
    ChatResult,
    Event,
    Finish,
    Notice,
    ReasoningDelta,
    RefusalDelta,
    Status,
    Tally,
    TextDelta,
    Timings,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from .structured import JsonIndenter
from .think import AnswerWasReasoning
from .wire import Meta, OutputItem, WireEvent

#: Why a reasoning model that used up its tokens before answering ended incomplete.
STOPPED_REASONING = "stopped by max_tokens while reasoning"


class Accumulator:
    """The reply so far; `apply` each wire event, `result()` at any time."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        hide_reasoning: bool = False,
        pretty_json: bool = False,
    ) -> None:
        self._clock = clock
        self._indent = JsonIndenter() if pretty_json else None  # a reply asked to be JSON
        self._hide = hide_reasoning
        self._t0 = clock()
        self._started_at = time.time()
        self._parts: list[str] = []
        self._reasoning: list[str] = []
        self._refusal: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}
        self._meta: dict[str, Any] = {}
        self._items: list[dict[str, Any]] = []
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._first: float | None = None
        self._first_answer: float | None = None
        self._last: float | None = None
        self._chunks = 0
        self._text_tally = Tally()  # the estimates while the server's usage has not come
        self._reasoning_tally = Tally()
        self._notices: list[str] = []

    def start(self) -> None:
        """Mark the moment the request is sent (again, after a retry)."""
        self._t0 = self._clock()
        self._started_at = time.time()

    @property
    def text(self) -> str:
        """The answer so far."""
        return "".join(self._parts)

    @property
    def finish_reason(self) -> str | None:
        """Why the server said the reply ended; None until it says."""
        return self._finish

    @property
    def has_output(self) -> bool:
        """True once any generated token (reasoning, text, refusal, tool call) arrived."""
        return self._first is not None

    @property
    def reasoning_chunks(self) -> int:
        """Reasoning deltas so far (about one token each), hidden ones included."""
        return self._reasoning_tally.chunks

    def elapsed(self) -> float:
        """Seconds since the request was sent."""
        return self._clock() - self._t0

    def counted(self) -> None:
        """One more event arrived from the server."""
        self._chunks += 1

    def notice(self, text: str) -> Notice:
        """Record a notice for the user and return it as an event."""
        if text not in self._notices:
            self._notices.append(text)
        return Notice(text)

    def apply(self, event: WireEvent) -> Event | None:
        """Take one wire event; the event to pass on to the sink, if any."""
        if isinstance(event, TextDelta) and self._indent is not None:
            event = TextDelta(self._indent.feed(event.text))
        if isinstance(event, TextDelta):
            self._mark(answer=True)
            self._text_tally.add(event.text)
            self._parts.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._mark(answer=False)
            self._reasoning_tally.add(event.text)
            self._reasoning.append(event.text)
        elif isinstance(event, RefusalDelta):
            self._mark(answer=True)
            self._refusal.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self._mark(answer=True)
            self._tool_call(event)
        elif isinstance(event, UsageReport):
            self._usage = event.usage
        elif isinstance(event, Finish):
            self._finish = event.reason
        elif isinstance(event, Notice):
            return self.notice(event.text)
        else:
            self._apply_quiet(event)
            return None
        return event

    def _apply_quiet(self, event: WireEvent) -> None:
        if isinstance(event, Meta):
            for key, value in event.fields.items():
                self._meta.setdefault(key, value)
        elif isinstance(event, OutputItem):
            self._items.append(event.item)
        elif isinstance(event, AnswerWasReasoning):
            self._reasoning[:0], self._parts = self._parts, []
            self._reasoning_tally.take(self._text_tally)
            self._first_answer = None

    def _tool_call(self, delta: ToolCallDelta) -> None:
        slot = self._tools.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
        slot["id"] = slot["id"] or delta.id
        slot["name"] += delta.name
        slot["arguments"] += delta.arguments

    def _mark(self, *, answer: bool) -> None:
        now = self._clock() - self._t0
        if self._first is None:
            self._first = now
        if answer and self._first_answer is None:
            self._first_answer = now
        self._last = now

    @property
    def stopped_reasoning(self) -> bool:
        """Stopped by the token limit before any answer, after reasoning."""
        answered = self._parts or self._refusal or self._tools
        reasoned = self._reasoning or (self._usage and self._usage.reasoning_tokens)
        return self._finish == "length" and not answered and bool(reasoned)

    def result(
        self,
        status: Status | None = None,
        *,
        error: str | None = None,
        prompt_estimate: int = 0,
        backend: str = "",
        attached: str = "",
    ) -> ChatResult:
        """The result so far; `status` defaults to complete when a finish_reason arrived."""
        if status is None:
            status = Status.COMPLETE if self._finish else Status.INCOMPLETE
        return ChatResult(
            attached=attached,
            text=self.text,
            status=status,
            # Tags leave newlines around the reasoning (<think>\n…\n</think>): not part of it.
            reasoning="" if self._hide else "".join(self._reasoning).strip(),
            model=self._meta.get("model", ""),
            role=self._meta.get("role", "assistant"),
            response_id=self._meta.get("id"),
            created=self._meta.get("created"),
            system_fingerprint=self._meta.get("system_fingerprint"),
            finish_reason=self._finish,
            refusal="".join(self._refusal) or None,
            tool_calls=tuple(
                ToolCall(index=i, id=t["id"], name=t["name"], arguments=t["arguments"])
                for i, t in sorted(self._tools.items())
            ),
            usage=self._final_usage(prompt_estimate),
            timings=Timings(
                started_at=self._started_at,
                first_token=self._first,
                last_token=self._last,
                total=self._clock() - self._t0,
                first_answer_token=self._first_answer,
            ),
            chunk_count=self._chunks,
            error=error,
            notices=tuple(self._notices),
            backend=backend,
            reasoning_items=tuple(self._items),
        )

    def _final_usage(self, prompt_estimate: int) -> Usage:
        usage = self._usage
        # LitServe and others send all zeros when they do not count: that is no usage at all.
        if usage is not None and (usage.total_tokens or not self.has_output):
            return usage
        answer = self._text_tally.estimate()
        reasoning = self._reasoning_tally.estimate()
        completion = answer + reasoning
        return Usage(
            prompt_estimate,
            completion,
            prompt_estimate + completion,
            {},
            estimated=True,
            reasoning_tokens=reasoning or None,
        )
