"""What one streamed turn produced: events while it runs, a ChatResult when it ends.

Pure data: `engine.wire` turns each wire format into these events and `engine.accumulate`
folds them into a `ChatResult`; nothing here knows of HTTP or IPython.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import Any

from .toolrounds import ToolActivity, ToolRound

#: `ChatResult.backend` of replies from nbstream's built-in offline demo server.
OFFLINE_BACKEND = "offline demo"


def local_backend(backend: str) -> bool:
    """The offline demo or a server on this machine (Ollama, vLLM): nothing to pay for."""
    host = backend.rpartition("@")[2].rsplit(":", 1)[0].strip("[]")
    return backend == OFFLINE_BACKEND or host in ("127.0.0.1", "localhost", "::1", "")


class Status(str, Enum):
    """How a turn ended."""

    COMPLETE = "complete"  # the server sent a finish_reason
    INCOMPLETE = "incomplete"  # the stream ended or dropped without a finish_reason
    INTERRUPTED = "interrupted"  # the user stopped it: kernel interrupt, Stop, cancel
    FAILED = "failed"  # an error after tokens arrived: malformed event, in-band error, stall


@dataclass(frozen=True)
class Usage:
    """Token counts, as the server reported them or as nbstream estimated them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    estimated: bool = False
    reasoning_tokens: int | None = None  # part of completion_tokens; None: the server did not say
    cached_tokens: int | None = None  # part of prompt_tokens served from the provider's cache
    cost: float | None = None  # dollars, when the server reports it (OpenRouter, LiteLLM)


@dataclass(frozen=True)
class Timings:
    """Seconds measured from the moment the request was sent."""

    started_at: float = 0.0  # wall-clock epoch of the request, for display and records
    first_token: float | None = None  # time to the first generated token of any kind
    last_token: float | None = None
    total: float = 0.0
    first_answer_token: float | None = None  # the first token of the answer (text, tool call)


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for, assembled from its deltas."""

    index: int
    id: str | None = None
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True)
class _Text:
    """An event that carries a piece of text; each subclass says whose."""

    text: str


class TextDelta(_Text):
    """New reply text."""


class ReasoningDelta(_Text):
    """New reasoning text (the model thinking aloud, or a summary of it)."""


class RefusalDelta(_Text):
    """New refusal text."""


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call's name or arguments (`id` on its first piece)."""

    index: int
    name: str
    arguments: str
    id: str | None = None


@dataclass(frozen=True)
class UsageReport:
    """The server's usage numbers arrived."""

    usage: Usage


@dataclass(frozen=True)
class Finish:
    """The server said why the reply ended."""

    reason: str


@dataclass(frozen=True)
class Retrying:
    """The request failed before any token and will be sent again after `wait` seconds."""

    reason: str
    wait: float
    attempt: int


class Notice(_Text):
    """Something the user should know that is not reply text (e.g. a second choice ignored)."""


Event = (
    TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta | UsageReport | Finish | Retrying
    | Notice | ToolActivity
)  # fmt: skip


@dataclass(frozen=True, repr=False)
class ChatResult:
    """Everything nbstream knows about one assistant reply."""

    text: str = ""
    status: Status = Status.COMPLETE
    reasoning: str = ""  # the reasoning text shown; "" when there was none or it was hidden
    model: str = ""
    role: str = "assistant"
    response_id: str | None = None
    created: int | None = None
    system_fingerprint: str | None = None
    finish_reason: str | None = None
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    chunk_count: int = 0
    error: str | None = None
    notices: tuple[str, ...] = ()
    backend: str = ""
    replayed: bool = False
    attached: str = ""  # what the prompt attached: '1 image (765 tokens), 1 table (344×7)'
    parsed: Any = None  # the validated object of a reply asked for with `schema=`; never stored
    # Opaque items the API wants back next turn: Responses reasoning items (encrypted) and
    # OpenRouter's reasoning_details.
    reasoning_items: tuple[dict[str, Any], ...] = ()
    tool_rounds: tuple[ToolRound, ...] = ()  # the tool calls run before this answer, in order

    @property
    def incomplete(self) -> bool:
        """The stream ended or dropped without a finish reason."""
        return self.status is Status.INCOMPLETE

    @property
    def interrupted(self) -> bool:
        """The user stopped it."""
        return self.status is Status.INTERRUPTED

    @property
    def usage_estimated(self) -> bool:
        """The token counts are nbstream's estimate: the server sent none."""
        return self.usage.estimated

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from sending the request to the first generated token, reasoning included."""
        return self.timings.first_token

    @property
    def hidden_reasoning(self) -> bool:
        """The server counted reasoning tokens it never streamed (OpenAI over Chat Completions):
        they were generated before the first visible token."""
        timings = self.timings
        return bool(self.usage.reasoning_tokens) and (
            timings.first_answer_token is not None
            and timings.first_answer_token == timings.first_token
        )

    @property
    def tokens_per_second(self) -> float | None:
        """Decode speed: tokens over the window they were generated in (the answer's alone
        when the reasoning was hidden, since it was generated before that window)."""
        first, last = self.timings.first_token, self.timings.last_token
        tokens = self.usage.completion_tokens
        if self.hidden_reasoning:
            tokens -= self.usage.reasoning_tokens or 0
        if first is None or last is None or tokens < 2 or last <= first:
            return None
        # The first token's own time is in the TTFT, so count the tokens after it.
        return (tokens - 1) / (last - first)

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:59] + "…"
        usage = self.usage
        speed = f", {self.tokens_per_second:.1f} tok/s" if self.tokens_per_second else ""
        first = self.time_to_first_token
        ttft = f", first token {first:.2f} s" if first is not None else ""
        return (
            f"ChatResult({self.status.value}, model={self.model!r}, text={text!r}, "
            f"tokens={usage.prompt_tokens}→{usage.completion_tokens}"
            f"{' (estimated)' if usage.estimated else ''}{ttft}{speed})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        record = asdict(self)
        record["status"] = self.status.value
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ChatResult:
        """Rebuild a result saved by `to_dict`; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["status"] = Status(values.get("status", "complete"))
        values["usage"] = Usage(**values.get("usage") or {})
        values["timings"] = Timings(**values.get("timings") or {})
        values["tool_calls"] = tuple(ToolCall(**t) for t in values.get("tool_calls") or ())
        values["notices"] = tuple(values.get("notices") or ())
        values["reasoning_items"] = tuple(values.get("reasoning_items") or ())
        values["tool_rounds"] = tuple(
            ToolRound.from_dict(r) for r in values.get("tool_rounds") or ()
        )
        return cls(**values)


_WIDE = re.compile("[\u2e80-\U0010ffff]")


def estimate_tokens(text: str) -> int:
    """A rough local token count: about four characters a token, one per CJK character."""
    wide = _wide(text)
    return wide + (len(text) - wide + 3) // 4


def prompt_estimate(messages: list[dict[str, Any]], image_tokens: int = 0) -> int:
    """A rough count of the prompt's tokens: its text, 3 a message, and the images' tokens."""
    return image_tokens + sum(estimate_tokens(content_text(m.get("content"))) + 3 for m in messages)


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def _wide(text: str) -> int:
    # A Python loop over the characters cost a second on a 20,000-token reply; these run in C.
    return 0 if text.isascii() else len(_WIDE.findall(text))


@dataclass
class Tally:
    """A running token estimate of text that arrives in deltas: each delta is counted once."""

    chars: int = 0
    wide: int = 0
    chunks: int = 0

    def add(self, text: str) -> None:
        """Count one more delta."""
        self.chars += len(text)
        self.wide += _wide(text)
        self.chunks += 1

    def take(self, other: Tally) -> None:
        """Add what `other` counted (and leave `other` empty)."""
        self.chars += other.chars
        self.wide += other.wide
        self.chunks += other.chunks
        other.chars = other.wide = other.chunks = 0

    def estimate(self) -> int:
        """Tokens: one a delta, as most servers send, unless the deltas are long enough to
        mean the server batches tokens; then about four characters a token, one per CJK one."""
        by_chars = self.wide + (self.chars - self.wide + 3) // 4
        return self.chunks if self.chunks * 2 >= by_chars else by_chars


def with_status(result: ChatResult, status: Status, error: str | None = None) -> ChatResult:
    """A copy of `result` with another status (and error)."""
    return replace(result, status=status, error=error if error is not None else result.error)
