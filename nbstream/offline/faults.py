"""How each model of the offline server answers: the demo models and the fault models.

Every model is one `Fault` entry: how it refuses (if it does), how it streams, how it sends a
whole reply, and what its reply is. Streams are lists of `offline.replies` ops.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .context import refuse_json_schema, refuse_response_format
from .replies import ABORT, DONE, Op, Pause, Reply, Write, text_deltas, tokenize
from .requests import Plain, Refusal
from .responses import ResponsesReply

FRAMING_TEXT = (
    "Plain ASCII first, then CJK: 你好\uff0c世界! Emoji with ZWJ: 👩\u200d💻🎉 and "
    "👨\u200d👩\u200d👧. Combining accents: e\u0301 a\u0300 n\u0303. "
    "Line\u2028separator and paragraph\u2029separator. Windows\r\nline end, "
    'a\ttab, "quotes" and a back\\slash. Done ✓'
)

_MALFORMED = b'data: {"id": "chatcmpl-x", "choices": [{"delta": {"content": "oops"\n\n'
_AFTER_DONE = b'data: {"after":"done"}\n\n'
_TERMINATORS = (b"\n\n", b"\r\n\r\n", b"\r\r")
# Long enough for the client's reads to see the split bytes, short enough to stay fast.
_FRAGMENT_GAP = 0.002
_TOOL_CALLS = (
    ("get_weather", ('{"city": "Par', 'is", "unit": "C"}')),
    ("get_weather", ('{"city": "Lon', 'don", "unit": "C"}')),
)
_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body><h1>Sign in</h1>"
    '<form method="post" action="/login"><input name="user"><input name="password" '
    'type="password"><button>Sign in</button></form></body></html>'
)
AnyReply = Reply | ResponsesReply


@dataclass(frozen=True)
class Ask:
    """A validated request as a fault sees it."""

    endpoint: str  # "chat" or "responses"
    body: Mapping[str, Any]
    opts: Mapping[str, Any]
    authorization: str | None


def standard(reply: AnyReply, opts: Mapping[str, Any]) -> list[Op]:
    """A well-formed stream."""
    return [*reply.body(), reply.end()]


def whole(data: bytes, wait: float, opts: Mapping[str, Any]) -> list[Op]:
    """A whole JSON reply after the time the stream would have taken."""
    return [Pause(wait), Write(data, 0)]


@dataclass(frozen=True)
class Fault:
    """How a model id answers; `filler` replaces the demo text by that many filler tokens,
    `dialect` adds reasoning ("reasoning_content", "reasoning", "think", "hidden")."""

    stream: Callable[[AnyReply, Mapping[str, Any]], list[Op]] = standard
    whole: Callable[[bytes, float, Mapping[str, Any]], list[Op]] = whole
    refuse: Callable[[Ask], Plain | None] | None = None  # raises Refusal, or a non-JSON answer
    deltas: Callable[[Mapping[str, Any]], list[list[dict[str, Any]]]] | None = None
    filler: int | None = None
    finish: str = "stop"
    usage: bool = True
    zero_usage: bool = False
    streams: bool = True
    dialect: str | None = None
    defaults: Mapping[str, float] = field(default_factory=dict)


def _tool_call_deltas(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None}]
    for index, (name, pieces) in enumerate(_TOOL_CALLS):
        head = {"index": index, "id": f"call_{index + 1}", "type": "function",
                "function": {"name": name, "arguments": ""}}  # fmt: skip
        deltas.append({"tool_calls": [head]})
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": piece}}]} for piece in pieces
        ]
    return [deltas]


def _refusal_deltas(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    pieces = tokenize("I can't help with that.")
    role = {"role": "assistant", "content": None, "refusal": ""}
    return [[role, *({"refusal": piece} for piece in pieces)]]


def _choice_deltas(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    n = body.get("n") or 2
    return [
        text_deltas(tokenize(f"This is choice {i}." + " It runs longer." * i)) for i in range(n)
    ]


def _framing_deltas(body: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    return [text_deltas(tokenize(FRAMING_TEXT))]


def _no_finish(reply: AnyReply, opts: Mapping[str, Any]) -> list[Op]:
    return reply.body()


def _no_done(reply: AnyReply, opts: Mapping[str, Any]) -> list[Op]:
    return [*reply.body(), reply.end(done=False)]


def _disconnect(reply: AnyReply, opts: Mapping[str, Any]) -> list[Op]:
    return [*reply.body(), ABORT]


def _disconnect_whole(data: bytes, wait: float, opts: Mapping[str, Any]) -> list[Op]:
    return [Pause(wait), Write(data[: len(data) // 2], 0), ABORT]


def _stall(reply: AnyReply, opts: Mapping[str, Any]) -> list[Op]:
    pause = Pause(opts.get("stall", 3600.0), opts.get("keepalive"))
    return [*reply.body(), pause, reply.end()]


def _stall_whole(data: bytes, wait: float, opts: Mapping[str, Any]) -> list[Op]:
    return [Pause(wait + opts.get("stall", 3600.0)), Write(data, 0)]


def _malformed(reply: AnyReply, opts: Mapping[str, Any]) -> list[Op]:
    return [*reply.body(), Write(_MALFORMED), Pause(1.0)]


def _error_event(reply: AnyReply, opts: Mapping[str, Any]) -> list[Op]:
    return [*reply.body(), reply.error()]


def _framing(reply: AnyReply, opts: Mapping[str, Any]) -> list[Op]:
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


def _echo_key(ask: Ask) -> Plain | None:
    key = (ask.authorization or "").removeprefix("Bearer ")
    raise Refusal(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")


def _no_stream_options(ask: Ask) -> Plain | None:
    if "stream_options" not in ask.body:
        return None
    raise Refusal(
        int(ask.opts.get("reject_status", 400)),
        "Unrecognized request argument supplied: stream_options",
        param="stream_options",
    )


def _responses_only(ask: Ask) -> Plain | None:
    if ask.endpoint == "responses":
        return None
    # OpenAI's answer for o1-pro, codex-mini and the like on /v1/chat/completions.
    raise Refusal(
        404,
        "This model is only supported in v1/responses and not in v1/chat/completions.",
        param="model",
    )


def _html(ask: Ask) -> Plain:
    return Plain(200, "text/html; charset=utf-8", _LOGIN_PAGE)


def _bad_gateway(ask: Ask) -> Plain:
    return Plain(502, "text/plain; charset=utf-8", "Bad Gateway")


#: The demo models: the plain one, and one per way servers send reasoning.
DEMOS: dict[str, Fault] = {
    "nbstream-demo": Fault(),
    "nbstream-reasoning-content": Fault(dialect="reasoning_content"),  # DeepSeek, llama.cpp
    "nbstream-reasoning": Fault(dialect="reasoning"),  # Ollama, OpenRouter, vLLM >= 0.11
    "nbstream-think": Fault(dialect="think"),  # <think> in content: Qwen, local models
    "nbstream-hidden-reasoning": Fault(dialect="hidden"),  # counted, never sent: OpenAI
}

FAULTS: dict[str, Fault] = {
    "fault-401": Fault(refuse=_echo_key),
    "fault-disconnect": Fault(_disconnect, _disconnect_whole, filler=5),
    "fault-no-finish": Fault(_no_finish, filler=5),
    "fault-no-done": Fault(_no_done),
    "fault-stall": Fault(_stall, _stall_whole, filler=3),
    "fault-reject-stream-options": Fault(refuse=_no_stream_options),
    "fault-no-usage": Fault(usage=False),
    "fault-zero-usage": Fault(zero_usage=True),
    "fault-framing": Fault(_framing, deltas=_framing_deltas),
    "fault-json": Fault(streams=False),
    "fault-html": Fault(refuse=_html),
    "fault-plain-error": Fault(refuse=_bad_gateway),
    "fault-malformed": Fault(_malformed, filler=3),
    "fault-error-event": Fault(_error_event, filler=3),
    "fault-length": Fault(finish="length"),
    "fault-content-filter": Fault(finish="content_filter"),
    "fault-tool-calls": Fault(deltas=_tool_call_deltas, finish="tool_calls"),
    "fault-refusal": Fault(deltas=_refusal_deltas),
    "fault-choices": Fault(deltas=_choice_deltas),
    "fault-slow": Fault(defaults={"first_token_delay": 2.0, "rate": 5.0}),
    "fault-responses-only": Fault(refuse=_responses_only, dialect="hidden"),
    "fault-no-json-schema": Fault(refuse=refuse_json_schema),
    "fault-no-response-format": Fault(refuse=refuse_response_format),
    # Misbehave in a tool loop (offline/tooldemo.py): bad arguments, an unknown tool, no end.
    **{name: Fault() for name in ("fault-tool-bad-json", "fault-tool-unknown", "fault-tool-loop")},
}
