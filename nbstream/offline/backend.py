"""The offline server's endpoints: the model list, chat completions and responses."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .compose import build_reply
from .context import check_images
from .faults import DEMOS, FAULTS, Ask, Fault
from .playing import Pacer, Played
from .replies import Op, Write, dumps
from .requests import (
    Refusal,
    RequestLog,
    RequestRecord,
    include_usage,
    parse_body,
    request_options,
    validate,
    validate_responses,
)
from .responses import ResponsesReply, as_chat
from .tooldemo import check_tool_messages

DEMO_MODEL = "nbstream-demo"
_CREATED = 1_735_689_600  # a fixed "created" for the model list
_EVENT_END = re.compile(r"(?<=\n\n)|(?<=\r\n\r\n)")
# How LiteLLM and OpenRouter answer a model they do not know: 400, not OpenAI's 404.
_UNKNOWN_400 = {
    "litellm": "/chat/completions: Invalid model name passed in model={model}. "
    "Call `/v1/models` to view available models for your key.",
    "openrouter": "{model} is not a valid model ID",
}


class Backend:
    """The endpoints' state: defaults, fail counters, and the request log."""

    def __init__(
        self, rate: float, first_token_delay: float, log: RequestLog, *, faults: bool = False
    ) -> None:
        self.rate, self.delay, self.log = rate, first_token_delay, log
        self.faults = faults  # off: only the demo models, and any other name answers as the demo
        self.failures: dict[str, int] = {}
        self._stopping: anyio.Event | None = None

    def stopping(self) -> anyio.Event:
        """Set when the server stops: open streams end then."""
        if self._stopping is None:  # created lazily: it must belong to the server's loop
            self._stopping = anyio.Event()
        return self._stopping

    def stop_streams(self) -> None:
        """Abort every stream in progress; call on the server's loop."""
        if self._stopping is not None:
            self._stopping.set()

    async def models(self, request: Request) -> JSONResponse:
        """GET /v1/models: the demo models, then the fault models when they are on."""
        data = [
            {
                "id": name,
                "object": "model",
                "created": _CREATED,
                "owned_by": "nbstream-faults" if name in FAULTS else "nbstream",
            }
            for name in (*DEMOS, *(FAULTS if self.faults else ()))
        ]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        """POST /v1/chat/completions."""
        return await self._serve(request, "chat")

    async def responses(self, request: Request) -> Response:
        """POST /v1/responses."""
        return await self._serve(request, "responses")

    async def _serve(self, request: Request, endpoint: str) -> Response:
        body = parse_body(await request.body())
        given = body or {}
        model = given.get("model")
        record = self.log._add(
            RequestRecord(
                model=model if isinstance(model, str) else "",
                body=given,
                authorization=request.headers.get("authorization"),
                stream=bool(given.get("stream")),
                include_usage=include_usage(given),
                endpoint=endpoint,
            )
        )
        try:
            checked = validate(body) if endpoint == "chat" else validate_responses(body)
            check_images(checked)  # as OpenAI does: a data URL must hold a real image
            return self.answer(endpoint, checked, record)
        except Refusal as refusal:
            self.log._end(record, "error", refusal.status)
            return refusal.response()

    def answer(self, endpoint: str, body: dict[str, Any], record: RequestRecord) -> Response:
        """The answer to a valid request: a refusal, a fault's own answer, or a reply."""
        check_tool_messages((body if endpoint == "chat" else as_chat(body))["messages"])
        body, fault, opts = self.fault_for(body)
        ask = Ask(endpoint, body, opts, record.authorization)
        plain = fault.refuse(ask) if fault.refuse else None
        if plain is not None:
            self.log._end(record, "complete" if plain.status < 400 else "error", plain.status)
            return Response(plain.text, plain.status, media_type=plain.media_type)
        failure = self.fail_if_asked(opts)
        if failure is not None:  # in band: an error event in a 200 stream
            return self._played(record, [failure], Pacer(0, 0), stream=True)
        return self.play(ask, fault, record)

    def fault_for(self, body: dict[str, Any]) -> tuple[dict[str, Any], Fault, dict[str, Any]]:
        """The body as answered, the model's fault entry and the request's options."""
        model = body["model"]
        fault = DEMOS.get(model) or (FAULTS.get(model) if self.faults else None)
        if fault is None and not self.faults:
            # The demo answers any name a user types (the README's gpt-4o-mini), as itself.
            body, fault = {**body, "model": DEMO_MODEL}, DEMOS[DEMO_MODEL]
        opts = request_options(body, fault.defaults if fault else {})
        if fault is None:
            raise _unknown(model, opts.get("unknown_as"))
        return body, fault, opts

    def fail_if_asked(self, opts: dict[str, Any]) -> Write | None:
        """Fail the first `fail_times` requests with this key as `fail_status` says: raised,
        or returned as an in-band error event when `fail_in_band` is set."""
        status, key = opts.get("fail_status"), opts.get("key", "default")
        if status is None or self.failures.get(key, 0) >= opts.get("fail_times", 1):
            return None
        self.failures[key] = self.failures.get(key, 0) + 1
        retry = opts.get("retry_after")
        headers = {
            **({} if retry is None else {"Retry-After": retry}),
            **{str(k): str(v) for k, v in opts.get("fail_headers", {}).items()},
        }
        refusal = _failure(status, retry)
        refusal.headers = headers or None
        if opts.get("fail_in_band"):
            return Write(f"data: {dumps({'error': refusal.error})}\n\n".encode())
        raise refusal

    def play(self, ask: Ask, fault: Fault, record: RequestRecord) -> Response:
        """The reply, streamed or whole, in the endpoint's format."""
        opts, body = ask.opts, dict(ask.body)
        rate = opts.get("rate", self.rate)
        delay = opts.get("first_token_delay", self.delay)
        chat = ask.endpoint == "chat"
        if not chat and fault.dialect == "think":  # Responses has its own reasoning items
            fault = replace(fault, dialect="reasoning_content")
        stream = bool(body.get("stream")) and fault.streams
        usage = stream and fault.usage and include_usage(body)
        reply = build_reply(
            body if chat else as_chat(body), fault, opts, rate, delay, include_usage=usage
        )
        if reply.hidden and rate > 0:
            delay += reply.hidden / rate  # the hidden reasoning takes its time
        told = reply if chat else _told(reply, body)
        # An answer delta of `chunk_tokens` tokens is one write: its pace in tokens stays `rate`.
        pacer = Pacer(rate / opts.get("chunk_tokens", 1), delay)
        if "replay" in opts:
            return self._played(record, _replay(opts["replay"]), pacer, stream=True)
        if stream:
            return self._played(record, fault.stream(told, opts), pacer, stream=True)
        data = json.dumps(told.whole(), ensure_ascii=False).encode()
        wait = delay + (reply.usage()["completion_tokens"] / rate if rate > 0 else 0.0)
        return self._played(
            record, fault.whole(data, wait, opts), pacer, stream=False, size=len(data)
        )

    def _played(
        self, record: RequestRecord, ops: list[Op], pacer: Pacer, *, stream: bool, size: int = 0
    ) -> Played:
        framing: dict[str, Any] = (
            {"eager": True, "media_type": "text/event-stream",
             "headers": {"Cache-Control": "no-cache"}}
            if stream
            else {"media_type": "application/json", "headers": {"Content-Length": str(size)}}
        )  # fmt: skip
        return Played(self.log, self.stopping(), record, ops, pacer=pacer, **framing)


def _told(reply: Any, body: dict[str, Any]) -> ResponsesReply:
    summary = bool((body.get("reasoning") or {}).get("summary"))
    encrypted = "reasoning.encrypted_content" in (body.get("include") or [])
    return ResponsesReply(reply, summary=summary, encrypted=encrypted)


def _replay(text: str) -> list[Op]:
    """A documented stream as given: one paced write per event."""
    events = [event for event in _EVENT_END.split(text) if event]
    return [Write(event.encode(), 1, paced=True) for event in events]


def _unknown(model: str, style: str | None) -> Refusal:
    if style in _UNKNOWN_400:
        return Refusal(400, _UNKNOWN_400[style].format(model=model), param="model", code="400")
    return Refusal(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def _failure(status: int, retry: str | None) -> Refusal:
    if status == 429:
        return Refusal(
            429,
            f"Rate limit reached, retry after {retry or 1} s (offline fault).",
            "rate_limit_exceeded",
            code="rate_limit_exceeded",
        )
    if status >= 500:
        message = "The server had an error while processing your request."
        return Refusal(status, message, "server_error")
    return Refusal(status, f"Offline fault: HTTP {status}.")
