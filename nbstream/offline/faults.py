"""Replies of the offline server: tokens, chunk encoding, and the stream of every model.

A stream is a list of ops that `nbstream.server` plays to the client: `Write` (bytes, maybe
paced by the token rate), `Pause` (maybe with keep-alive comments) and `ABORT` (cut the
connection).
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

_TOKEN = re.compile(r"\s*\S+|\s+")

_FILLER = (
    "the notebook shows each token as soon as it arrives while the reply grows line by line "
    "and a counter keeps track of speed usage and time until the server sends its final chunk"
)

FRAMING_TEXT = (
    "Plain ASCII first, then CJK: 你好\uff0c世界! Emoji with ZWJ: 👩\u200d💻🎉 and "
    "👨\u200d👩\u200d👧. Combining accents: e\u0301 a\u0300 n\u0303. "
    "Line\u2028separator and paragraph\u2029separator. Windows\r\nline end, "
    'a\ttab, "quotes" and a back\\slash. Done ✓'
)

DONE = b"data: [DONE]\n\n"
_MALFORMED = b'data: {"id": "chatcmpl-x", "choices": [{"delta": {"content": "oops"\n\n'
_ERROR_EVENT = (
    b'data: {"error": {"message": "The model crashed mid-stream (offline fault).", '
    b'"type": "server_error"}}\n\n'
)
_AFTER_DONE = b'data: {"after":"done"}\n\n'
_TERMINATORS = (b"\n\n", b"\r\n\r\n", b"\r\r")
# Long enough for the client's reads to see the split bytes, short enough to stay fast.
_FRAGMENT_GAP = 0.002
_TOOL_CALLS = (
    ("get_weather", ('{"city": "Par', 'is", "unit": "C"}')),
    ("get_weather", ('{"city": "Lon', 'don", "unit": "C"}')),
)


def tokenize(text: str) -> list[str]:
    """Split text into words with their leading whitespace; the pieces join back exactly."""
    return _TOKEN.findall(text)


def filler(count: int) -> list[str]:
    """`count` tokens of English-looking filler with sentences and paragraphs."""
    words, tokens = _FILLER.split(), []
    for i in range(count):
        word = words[i % len(words)]
        if i % 12 == 0:
            word = word.capitalize()
        if i % 12 == 11 or i == count - 1:
            word += "."
        gap = "" if i == 0 else "\n\n" if i % 48 == 0 else " "
        tokens.append(gap + word)
    return tokens


@dataclass(frozen=True)
class Write:
    """Bytes for the client; `events` SSE events end in them; paced ones wait for the rate."""

    data: bytes
    events: int = 1
    paced: bool = False


@dataclass(frozen=True)
class Pause:
    """Send nothing for `seconds`, except a keep-alive comment every `keepalive` seconds."""

    seconds: float
    keepalive: float | None = None


class Abort:
    """Cut the connection in the middle of the body."""


ABORT = Abort()
Op = Write | Pause | Abort


def _dumps(value: Any) -> str:
    # Raw UTF-8 like OpenAI, so multi-byte characters reach the client's decoder.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Reply:
    """One reply, as deltas per choice, ready to encode as SSE chunks or one JSON body."""

    model: str
    choices: list[list[dict[str, Any]]]  # per choice its deltas; the first carries the role
    finish: list[str]
    prompt_tokens: int
    include_usage: bool
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        head = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_nbstream",
        }
        self._head = _dumps(head)[:-1]
        self._tail = ',"usage":null}' if self.include_usage else "}"

    def usage(self) -> dict[str, int]:
        """Token counts: every delta after the role one counts as a completion token."""
        completion = sum(len(deltas) - 1 for deltas in self.choices)
        total = self.prompt_tokens + completion
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": total,
        }

    def chunk(self, delta: dict[str, Any], index: int = 0, finish: str | None = None) -> bytes:
        """One `chat.completion.chunk` SSE event."""
        choice = (
            f'{{"index":{index},"delta":{_dumps(delta)},"logprobs":null,'
            f'"finish_reason":{_dumps(finish)}}}'
        )
        return f'data: {self._head},"choices":[{choice}]{self._tail}\n\n'.encode()

    def usage_chunk(self) -> bytes:
        """The final chunk with no choices and the usage."""
        return f'data: {self._head},"choices":[],"usage":{_dumps(self.usage())}}}\n\n'.encode()

    def completion(self) -> dict[str, Any]:
        """The non-streaming `chat.completion` object."""
        pairs = enumerate(zip(self.choices, self.finish, strict=True))
        choices = [
            {"index": i, "message": merge(deltas), "logprobs": None, "finish_reason": reason}
            for i, (deltas, reason) in pairs
        ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_nbstream",
            "choices": choices,
            "usage": self.usage(),
        }


def merge(deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold streamed deltas into the message a non-streaming reply carries."""
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    calls: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        for key in ("content", "refusal"):
            if delta.get(key) is not None:
                message[key] = (message[key] or "") + delta[key]
        for call in delta.get("tool_calls", ()):
            known = calls.setdefault(
                call["index"],
                {
                    "id": call.get("id"),
                    "type": "function",
                    "function": {"name": "", "arguments": ""},
                },
            )
            for key, value in call.get("function", {}).items():
                known["function"][key] += value
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


def text_deltas(tokens: list[str]) -> list[dict[str, Any]]:
    """Deltas of a plain text reply."""
    return [
        {"role": "assistant", "content": "", "refusal": None},
        *({"content": token} for token in tokens),
    ]


def _tool_call_deltas(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None}]
    for index, (name, pieces) in enumerate(_TOOL_CALLS):
        head = {
            "index": index,
            "id": f"call_{index + 1}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        deltas.append({"tool_calls": [head]})
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": piece}}]} for piece in pieces
        ]
    return [deltas]


def _refusal_deltas(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    pieces = tokenize("I can't help with that.")
    return [
        [
            {"role": "assistant", "content": None, "refusal": ""},
            *({"refusal": piece} for piece in pieces),
        ]
    ]


def _choice_deltas(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    n = body.get("n") or 2
    return [
        text_deltas(tokenize(f"This is choice {i}." + " It runs longer." * i)) for i in range(n)
    ]


def _framing_deltas(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    return [text_deltas(tokenize(FRAMING_TEXT))]


def _body(reply: Reply) -> list[Op]:
    """Role and content chunks: one paced write per round across the choices."""
    longest = max(len(deltas) for deltas in reply.choices)
    rounds = [
        [reply.chunk(d[k], i) for i, d in enumerate(reply.choices) if k < len(d)]
        for k in range(longest)
    ]
    if len(rounds) > 1:  # the role chunk goes out with the first token, as OpenAI does
        rounds[:2] = [rounds[0] + rounds[1]]
    return [Write(b"".join(events), len(events), paced=True) for events in rounds]


def _end(reply: Reply, *, done: bool = True) -> Write:
    """Finish reasons, the usage chunk when asked for, and `[DONE]`."""
    events = [reply.chunk({}, i, reason) for i, reason in enumerate(reply.finish)]
    if reply.include_usage:
        events.append(reply.usage_chunk())
    if done:
        events.append(DONE)
    return Write(b"".join(events), len(events))


def standard(reply: Reply, opts: Mapping[str, Any]) -> list[Op]:
    """A well-formed OpenAI stream."""
    return [*_body(reply), _end(reply)]


def _no_finish(reply: Reply, opts: Mapping[str, Any]) -> list[Op]:
    return _body(reply)


def _no_done(reply: Reply, opts: Mapping[str, Any]) -> list[Op]:
    return [*_body(reply), _end(reply, done=False)]


def _disconnect(reply: Reply, opts: Mapping[str, Any]) -> list[Op]:
    return [*_body(reply), ABORT]


def _stall(reply: Reply, opts: Mapping[str, Any]) -> list[Op]:
    return [*_body(reply), Pause(opts.get("stall", 3600.0), opts.get("keepalive")), _end(reply)]


def _malformed(reply: Reply, opts: Mapping[str, Any]) -> list[Op]:
    return [*_body(reply), Write(_MALFORMED), Pause(1.0)]


def _error_event(reply: Reply, opts: Mapping[str, Any]) -> list[Op]:
    return [*_body(reply), Write(_ERROR_EVENT)]


def _framing(reply: Reply, opts: Mapping[str, Any]) -> list[Op]:
    """The standard stream with varied line ends, comments, and writes splitting characters."""
    ops: list[Op] = []
    writes = [op for op in standard(reply, opts) if isinstance(op, Write)]
    events = [
        (event + b"\n\n", write.paced)
        for write in writes
        for event in write.data.split(b"\n\n")[:-1]
        if event != DONE.strip()
    ]
    for i, (event, paced) in enumerate(events):
        if i % 3 == 1:
            ops.append(Write(b": ping\n\n", events=0))
        if i % 2:
            event = event.replace(b"data: ", b"data:", 1)  # the space is optional in SSE
        ops += _fragments(event[:-2] + _TERMINATORS[i % 3], paced)
    return [*ops, Write(DONE), Write(_AFTER_DONE)]


def _fragments(event: bytes, paced: bool) -> list[Op]:
    """Split inside every multi-byte character and before the last line-end byte."""
    cuts = [i + 1 for i, byte in enumerate(event) if byte >= 0xC0]
    cuts = [0, *cuts, len(event) - 1, len(event)]
    pieces = [event[a:b] for a, b in itertools.pairwise(cuts)]
    ops: list[Op] = [Write(pieces[0], 0, paced)]
    for piece in pieces[1:]:
        ops += [Pause(_FRAGMENT_GAP), Write(piece, 0)]
    ops[-1] = Write(pieces[-1], 1)
    return ops


@dataclass(frozen=True)
class Fault:
    """How a model id answers; `filler` replaces the demo text by that many filler tokens."""

    stream: Callable[[Reply, Mapping[str, Any]], list[Op]] = standard
    deltas: Callable[[Mapping[str, Any]], list[list[dict[str, Any]]]] | None = None
    filler: int | None = None
    finish: str = "stop"
    usage: bool = True
    streams: bool = True
    defaults: Mapping[str, float] = field(default_factory=dict)


FAULTS: dict[str, Fault] = {
    "fault-401": Fault(),
    "fault-disconnect": Fault(_disconnect, filler=5),
    "fault-no-finish": Fault(_no_finish, filler=5),
    "fault-no-done": Fault(_no_done),
    "fault-stall": Fault(_stall, filler=3),
    "fault-reject-stream-options": Fault(),
    "fault-no-usage": Fault(usage=False),
    "fault-framing": Fault(_framing, deltas=_framing_deltas),
    "fault-json": Fault(streams=False),
    "fault-html": Fault(),
    "fault-plain-error": Fault(),
    "fault-malformed": Fault(_malformed, filler=3),
    "fault-error-event": Fault(_error_event, filler=3),
    "fault-length": Fault(finish="length"),
    "fault-content-filter": Fault(finish="content_filter"),
    "fault-tool-calls": Fault(deltas=_tool_call_deltas, finish="tool_calls"),
    "fault-refusal": Fault(deltas=_refusal_deltas),
    "fault-choices": Fault(deltas=_choice_deltas),
    "fault-slow": Fault(defaults={"first_token_delay": 2.0, "rate": 5.0}),
}


def message_text(content: Any) -> str:
    """The text of a message's content: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def demo_text(body: Mapping[str, Any], rate: float, delay: float) -> str:
    """The demo reply: what the server received, labelled as not coming from a model."""
    messages = body["messages"]
    roles = ", ".join(
        f"{n} {role}" for role, n in Counter(m.get("role", "unknown") for m in messages).items()
    )
    last = message_text(messages[-1].get("content"))
    quote = last[:200] + ("…" if len(last) > 200 else "")
    quoted = "\n".join(f"> {line}" for line in quote.splitlines()) or "> (empty)"
    limit = body.get("max_tokens", body.get("max_completion_tokens"))
    chosen = [
        f"{name} {json.dumps(value)}"
        for name, value in (
            ("temperature", body.get("temperature")),
            ("top_p", body.get("top_p")),
            ("max_tokens", limit),
        )
        if value is not None
    ]
    settings = ", ".join(chosen) if chosen else "no temperature, top_p or max_tokens"
    pace = "as fast as it can" if rate <= 0 else f"at about {rate:g} tokens per second"
    wait = f" after a {delay:g} s pause" if delay > 0 else ""
    return (
        "**Offline demo reply** — nbstream's built-in server, not a language model.\n\n"
        f"You sent {len(messages)} message{'s' * (len(messages) != 1)} ({roles}). "
        f"Your last message has {len(last)} characters:\n\n{quoted}\n\nSampling: {settings}.\n\n"
        "A real model would answer here. This server only describes what it received, so you "
        f"can try nbstream without a network or an API key. It streams {pace}{wait}: watch the "
        "reply grow, interrupt it, read the usage. For a real model, point nbstream at any "
        "OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama) with its base URL and key."
    )


def build_reply(
    body: Mapping[str, Any],
    fault: Fault,
    opts: Mapping[str, Any],
    rate: float,
    delay: float,
    *,
    include_usage: bool,
) -> Reply:
    """The reply to a validated request: its deltas, cut at max_tokens, and the prompt size."""
    prompt = sum(len(tokenize(message_text(m.get("content")))) + 3 for m in body["messages"])
    if fault.deltas is not None:
        choices = fault.deltas(body)
        return Reply(body["model"], choices, [fault.finish] * len(choices), prompt, include_usage)
    if "text" in opts:
        tokens = tokenize(opts["text"])
    elif "tokens" in opts or fault.filler is not None:
        tokens = filler(opts.get("tokens", fault.filler))
    else:
        tokens = tokenize(demo_text(body, rate, delay))
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    finish = fault.finish
    if limit is not None and len(tokens) > limit:
        tokens, finish = tokens[:limit], "length"
    return Reply(body["model"], [text_deltas(tokens)], [finish], prompt, include_usage)


class Pacer:
    """Deadlines for paced writes: the first after `delay`, then one every 1/rate s."""

    def __init__(self, rate: float, delay: float) -> None:
        self.rate, self.delay = rate, delay
        self.first: float | None = None
        self.count = 0

    async def wait(self) -> None:
        """Sleep until the next paced write is due; at least yield to the loop."""
        if self.first is None:
            await anyio.sleep(self.delay)
            self.first = time.monotonic()
        else:
            # A schedule, not sleep(1/rate) per token, so that delays do not add up.
            due = self.first + self.count / self.rate if self.rate > 0 else 0.0
            await anyio.sleep(max(0.0, due - time.monotonic()))
        self.count += 1

    def shift(self, seconds: float) -> None:
        """Move the schedule back after a pause."""
        if self.first is not None:
            self.first += seconds
