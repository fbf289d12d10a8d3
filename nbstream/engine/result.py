"""What one streamed turn produced: events while it runs, a ChatResult when it ends.

Pure data and pure logic: `Accumulator` turns SDK chunks into small typed events and
a `ChatResult`; it knows nothing of HTTP or IPython.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import Any

#: `ChatResult.backend` of replies from nbstream's built-in offline demo server.
OFFLINE_BACKEND = "offline demo"


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


@dataclass(frozen=True)
class Timings:
    """Seconds measured from the moment the request was sent."""

    started_at: float = 0.0  # wall-clock epoch of the request, for display and records
    first_token: float | None = None  # time to first token
    last_token: float | None = None
    total: float = 0.0


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for, assembled from its deltas."""

    index: int
    id: str | None = None
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True)
class TextDelta:
    """New reply text."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call's name or arguments."""

    index: int
    name: str
    arguments: str


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


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not reply text (e.g. a second choice ignored)."""

    text: str


Event = TextDelta | ToolCallDelta | UsageReport | Finish | Retrying | Notice


@dataclass(frozen=True, repr=False)
class ChatResult:
    """Everything nbstream knows about one assistant reply."""

    text: str = ""
    status: Status = Status.COMPLETE
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
        """Seconds from sending the request to the first token."""
        return self.timings.first_token

    @property
    def tokens_per_second(self) -> float | None:
        """Decode speed: completion tokens over the first-to-last token time."""
        first, last = self.timings.first_token, self.timings.last_token
        tokens = self.usage.completion_tokens
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
        return cls(**values)


def estimate_tokens(text: str) -> int:
    """A rough local token count: about four characters a token, one per CJK character."""
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return wide + (len(text) - wide + 3) // 4


class Accumulator:
    """Folds chat-completion chunks into events and one `ChatResult`.

    `clock` is injectable so timings are testable; times are seconds since `start()`.
    """

    def __init__(self, *, clock: Any = time.perf_counter) -> None:
        self._clock = clock
        self._t0 = clock()
        self._started_at = time.time()
        self._parts: list[str] = []
        self._refusal: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}
        self._meta: dict[str, Any] = {}
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._first: float | None = None
        self._last: float | None = None
        self._chunks = 0
        self._content_chunks = 0
        self._notices: list[str] = []
        self._ignored_choices = False

    def start(self) -> None:
        """Mark the moment the request is sent (again, after a retry)."""
        self._t0 = self._clock()
        self._started_at = time.time()

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def chunk_count(self) -> int:
        return self._chunks

    @property
    def content_chunks(self) -> int:
        return self._content_chunks

    @property
    def finish_reason(self) -> str | None:
        return self._finish

    def elapsed(self) -> float:
        """Seconds since the request was sent."""
        return self._clock() - self._t0

    @property
    def has_output(self) -> bool:
        """True once any reply content (text, refusal or tool call) arrived."""
        return self._first is not None

    def notice(self, text: str) -> Notice:
        """Record a notice for the user and return it as an event."""
        if text not in self._notices:
            self._notices.append(text)
        return Notice(text)

    def feed(self, chunk: Any) -> list[Event]:
        """Take one `ChatCompletionChunk` (or anything shaped like it); return its events."""
        self._chunks += 1
        events: list[Event] = []
        for key in ("id", "model", "created", "system_fingerprint"):
            value = getattr(chunk, key, None)
            if value and key not in self._meta:
                self._meta[key] = value
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "index", 0) != 0:
                if not self._ignored_choices:
                    self._ignored_choices = True
                    events.append(self.notice("only the first of several choices is shown"))
                continue
            events.extend(self._feed_choice(choice))
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = _usage_from(usage)
            events.append(UsageReport(self._usage))
        return events

    def _feed_choice(self, choice: Any) -> list[Event]:
        events: list[Event] = []
        delta = getattr(choice, "delta", None)
        if delta is not None:
            content = getattr(delta, "content", None)
            if content:
                self._mark_token()
                self._content_chunks += 1
                self._parts.append(content)
                events.append(TextDelta(content))
            refusal = getattr(delta, "refusal", None)
            if refusal:
                self._mark_token()
                self._refusal.append(refusal)
            if getattr(delta, "role", None):
                self._meta.setdefault("role", delta.role)
            for call in getattr(delta, "tool_calls", None) or ():
                self._mark_token()
                events.append(self._feed_tool_call(call))
        if getattr(choice, "finish_reason", None):
            self._finish = choice.finish_reason
            events.append(Finish(choice.finish_reason))
        return events

    def _feed_tool_call(self, call: Any) -> ToolCallDelta:
        slot = self._tools.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
        if getattr(call, "id", None):
            slot["id"] = call.id
        function = getattr(call, "function", None)
        name = (getattr(function, "name", None) or "") if function else ""
        arguments = (getattr(function, "arguments", None) or "") if function else ""
        slot["name"] += name
        slot["arguments"] += arguments
        return ToolCallDelta(call.index, name, arguments)

    def _mark_token(self) -> None:
        now = self._clock() - self._t0
        if self._first is None:
            self._first = now
        self._last = now

    def result(
        self,
        status: Status | None = None,
        *,
        error: str | None = None,
        prompt_estimate: int = 0,
        backend: str = "",
    ) -> ChatResult:
        """The result so far; `status` defaults to complete when a finish_reason arrived."""
        if status is None:
            status = Status.COMPLETE if self._finish else Status.INCOMPLETE
        text = self.text
        usage = self._usage or _estimated_usage(text, self._content_chunks, prompt_estimate)
        return ChatResult(
            text=text,
            status=status,
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
            usage=usage,
            timings=Timings(
                started_at=self._started_at,
                first_token=self._first,
                last_token=self._last,
                total=self._clock() - self._t0,
            ),
            chunk_count=self._chunks,
            error=error,
            notices=tuple(self._notices),
            backend=backend,
        )


def _usage_from(usage: Any) -> Usage:
    details: dict[str, Any] = {}
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        value = getattr(usage, key, None)
        if value is not None:
            dumped = value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else value
            if dumped:
                details[key] = dumped
    prompt = getattr(usage, "prompt_tokens", 0) or 0
    completion = getattr(usage, "completion_tokens", 0) or 0
    total = getattr(usage, "total_tokens", 0) or prompt + completion
    return Usage(prompt, completion, total, details, estimated=False)


def _estimated_usage(text: str, content_chunks: int, prompt_estimate: int) -> Usage:
    # Most servers send one token per content chunk (a token is ~4 characters); chunks much
    # longer than that mean the server batches tokens, so count characters instead.
    by_chars = estimate_tokens(text)
    completion = content_chunks if content_chunks * 2 >= by_chars else by_chars
    return Usage(prompt_estimate, completion, prompt_estimate + completion, {}, estimated=True)


def with_status(result: ChatResult, status: Status, error: str | None = None) -> ChatResult:
    """A copy of `result` with another status (and error)."""
    return replace(result, status=status, error=error if error is not None else result.error)
