"""Chat Completions chunks, in every dialect servers speak, to nbstream's events.

Works on plain dicts (what `json.loads` gives for an SSE event), so the SDK's per-chunk model
construction is not needed. Dialects of reasoning text: `delta.reasoning_content` (DeepSeek,
SGLang, llama.cpp, vLLM < 0.11), `delta.reasoning` (Ollama, OpenRouter, vLLM >= 0.11),
`delta.reasoning_details` (OpenRouter's structured form) and `<think>` tags in content.
Usage may arrive as `usage` or, from Groq, as `x_groq.usage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .result import (
    Finish,
    Notice,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from .think import AnswerWasReasoning, ThinkSplitter

RATE_LIMIT_CODES = {"rate_limit_exceeded", "rate_limit_error", "429", "too_many_requests"}


@dataclass(frozen=True)
class Meta:
    """Facts about the reply: id, model, created, system_fingerprint, role."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class ServerError:
    """An error the server sent inside the stream."""

    message: str
    code: str | None = None

    @property
    def rate_limited(self) -> bool:
        """The server said to slow down: worth a retry like a 429 when nothing was shown yet."""
        return (self.code or "").lower() in RATE_LIMIT_CODES or "rate limit" in self.message.lower()


@dataclass(frozen=True)
class OutputItem:
    """An item to send back next turn (a Responses reasoning item, OpenRouter details)."""

    item: dict[str, Any]


WireEvent = (
    TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta | UsageReport | Finish | Notice
    | Meta | ServerError | OutputItem | AnswerWasReasoning
)  # fmt: skip

_META = ("id", "model", "created", "system_fingerprint")
_SEVERAL = "only the first of several choices is shown"


class ChatWire:
    """One Chat Completions stream: `feed(chunk)` per event, `end()` once it is over."""

    def __init__(self, *, think_tags: bool = True) -> None:
        self._think = ThinkSplitter() if think_tags else None
        self._several = False

    def feed(self, chunk: dict[str, Any]) -> list[WireEvent]:
        """The events in one `chat.completion.chunk` dict."""
        if chunk.get("error"):
            return [server_error(chunk["error"])]
        events: list[WireEvent] = []
        meta = {key: chunk[key] for key in _META if chunk.get(key)}
        if meta:
            events.append(Meta(meta))
        for choice in chunk.get("choices") or ():
            events += self._choice(choice)
        usage = usage_from(chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage"))
        if usage is not None:
            events.append(UsageReport(usage))
        return events

    def end(self) -> list[WireEvent]:
        """Text held back while a `<think>` tag could still complete."""
        return list(self._think.end()) if self._think else []

    def _choice(self, choice: dict[str, Any]) -> list[WireEvent]:
        if choice.get("index", 0) != 0:
            if self._several:
                return []
            self._several = True
            return [Notice(_SEVERAL)]
        # A non-streamed reply (a server that ignored `stream`) has a message, not a delta.
        delta = choice.get("delta") or choice.get("message") or {}
        events: list[WireEvent] = [Meta({"role": delta["role"]})] if delta.get("role") else []
        events += _reasoning(delta)
        content = delta.get("content")
        if isinstance(content, str) and content:
            events += self._think.feed(content) if self._think else [TextDelta(content)]
        if delta.get("refusal"):
            events.append(RefusalDelta(delta["refusal"]))
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            events.append(
                ToolCallDelta(
                    call.get("index", 0),
                    function.get("name") or "",
                    function.get("arguments") or "",
                    call.get("id"),
                )
            )
        if choice.get("finish_reason"):
            events += [*self.end(), Finish(choice["finish_reason"])]
        return events


def _reasoning(delta: dict[str, Any]) -> list[WireEvent]:
    # OpenRouter sends the same text as `reasoning` and in `reasoning_details`: show it once,
    # keep the details to send back.
    details = [OutputItem(d) for d in delta.get("reasoning_details") or () if isinstance(d, dict)]
    for key in ("reasoning_content", "reasoning"):
        text = delta.get(key)
        if isinstance(text, str) and text:
            return [ReasoningDelta(text), *details]
    texts = [str(d.item.get("text") or d.item.get("summary") or "") for d in details]
    return [*(ReasoningDelta(t) for t in texts if t), *details]


def server_error(error: Any) -> ServerError:
    """The in-band error object (or string) as an event."""
    if not isinstance(error, dict):
        return ServerError(str(error))
    code = error.get("code") or error.get("type")
    return ServerError(str(error.get("message") or error), None if code is None else str(code))


def usage_from(raw: Any) -> Usage | None:
    """Usage from a Chat Completions or Responses usage object; None when there is none."""
    if not isinstance(raw, dict):
        return None
    prompt = _int(raw.get("prompt_tokens", raw.get("input_tokens")))
    completion = _int(raw.get("completion_tokens", raw.get("output_tokens")))
    total = _int(raw.get("total_tokens")) or prompt + completion
    prompt_details = raw.get("prompt_tokens_details") or raw.get("input_tokens_details") or {}
    output_details = raw.get("completion_tokens_details") or raw.get("output_tokens_details") or {}
    reasoning = _maybe_int(output_details.get("reasoning_tokens"))
    if reasoning and total - prompt - completion == reasoning:
        # Gemini counts its thoughts outside completion_tokens; OpenAI counts them inside.
        completion += reasoning
    details = {
        key: value
        for key in ("prompt_tokens_details", "completion_tokens_details")
        if isinstance(value := raw.get(key), dict) and value
    }
    cost = raw.get("cost")
    return Usage(
        prompt,
        completion,
        total,
        details,
        reasoning_tokens=reasoning,
        cached_tokens=_maybe_int(prompt_details.get("cached_tokens")),
        cost=float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
    )


def _int(value: Any) -> int:
    return _maybe_int(value) or 0


def _maybe_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
