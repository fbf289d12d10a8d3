"""Replies of the offline server: tokens, the demo text, and a reply's Chat Completions encoding.

A reply is a list of deltas per choice (the first carries the role); a stream is a list of ops
that `offline.playing` plays to the client: `Write` (bytes, maybe paced by the token rate),
`Pause` (maybe with keep-alive comments) and `ABORT` (cut the connection).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"\s*\S+|\s+")
_FILLER = (
    "the notebook shows each token as soon as it arrives while the reply grows line by line "
    "and a counter keeps track of speed usage and time until the server sends its final chunk"
)
DONE = b"data: [DONE]\n\n"
_ERROR_EVENT = (
    b'data: {"error": {"message": "The model crashed mid-stream (offline fault).", '
    b'"type": "server_error"}}\n\n'
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


def dumps(value: Any) -> str:
    """Compact JSON in raw UTF-8 like OpenAI's, so multi-byte characters reach the decoder."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Reply:
    """One reply as deltas per choice, encoded as Chat Completions chunks or one JSON body.

    `reasoning` of the completion tokens are reasoning; `hidden` more reasoning tokens are
    counted in the usage but never sent (as OpenAI does over Chat Completions).
    """

    model: str
    choices: list[list[dict[str, Any]]]  # per choice its deltas; the first carries the role
    finish: list[str]
    prompt_tokens: int
    include_usage: bool
    reasoning: int = 0
    hidden: int = 0
    grouped: int = 0  # tokens sent in another token's delta (`chunk_tokens`): counted, not sent
    zero_usage: bool = False  # report every count as 0, as LitServe does
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
        self._head = dumps(head)[:-1]
        self._tail = ',"usage":null}' if self.include_usage else "}"

    def usage(self) -> dict[str, Any]:
        """Token counts: every delta after the role one counts as a completion token."""
        completion = sum(len(deltas) - 1 for deltas in self.choices) + self.hidden + self.grouped
        if self.zero_usage:
            return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }
        if self.reasoning + self.hidden:
            usage["prompt_tokens_details"] = {"cached_tokens": 0}
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning + self.hidden}
        return usage

    def chunk(self, delta: dict[str, Any], index: int = 0, finish: str | None = None) -> bytes:
        """One `chat.completion.chunk` SSE event."""
        choice = (
            f'{{"index":{index},"delta":{dumps(delta)},"logprobs":null,'
            f'"finish_reason":{dumps(finish)}}}'
        )
        return f'data: {self._head},"choices":[{choice}]{self._tail}\n\n'.encode()

    def body(self) -> list[Op]:
        """Role and content chunks: one paced write per round across the choices."""
        longest = max(len(deltas) for deltas in self.choices)
        rounds = [
            [self.chunk(d[k], i) for i, d in enumerate(self.choices) if k < len(d)]
            for k in range(longest)
        ]
        if len(rounds) > 1:  # the role chunk goes out with the first token, as OpenAI does
            rounds[:2] = [rounds[0] + rounds[1]]
        return [Write(b"".join(events), len(events), paced=True) for events in rounds]

    def end(self, *, done: bool = True) -> Write:
        """Finish reasons, the usage chunk when asked for, and `[DONE]`."""
        events = [self.chunk({}, i, reason) for i, reason in enumerate(self.finish)]
        if self.include_usage:
            usage = dumps(self.usage())
            events.append(f'data: {self._head},"choices":[],"usage":{usage}}}\n\n'.encode())
        if done:
            events.append(DONE)
        return Write(b"".join(events), len(events))

    def error(self) -> Write:
        """An in-band error event, as servers send when the model fails mid-stream."""
        return Write(_ERROR_EVENT)

    def whole(self) -> dict[str, Any]:
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
        for key in ("content", "refusal", "reasoning_content", "reasoning"):
            if delta.get(key) is not None:
                message[key] = (message.get(key) or "") + delta[key]
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


def reasoning_text(body: Mapping[str, Any]) -> str:
    """What a reasoning demo model 'thinks' before its reply."""
    messages = body["messages"]
    last = message_text(messages[-1].get("content"))
    return (
        f"The request has {len(messages)} message{'s' * (len(messages) != 1)}; the last one is "
        f"{len(last)} characters long. I am the offline server, not a model, so the honest "
        "answer is to describe the request. Keep it short and say how it streamed."
    )
