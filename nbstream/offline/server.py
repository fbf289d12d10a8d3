"""nbstream's offline backend: an OpenAI-compatible chat server for demos and tests.

`nbstream serve` runs it in the foreground, `OfflineServer` on a background thread. It answers
`GET /v1/models` and `POST /v1/chat/completions` for `nbstream-demo`, which describes the
request it got, and for fault models that misbehave on purpose:

    fault-401                    401 whose message echoes the full API key (tests redaction)
    fault-disconnect             `tokens` (5) chunks, then the connection is cut mid-body
    fault-no-finish              `tokens` (5) chunks, then a clean end: no finish_reason, no [DONE]
    fault-no-done                a normal stream without `data: [DONE]`
    fault-stall                  `tokens` (3) chunks, `stall` s (3600) of silence or of
                                 `: keep-alive` comments every `keepalive` s, then the end
    fault-reject-stream-options  `reject_status` (400) if the body has stream_options
    fault-no-usage               never sends the usage chunk
    fault-framing                FRAMING_TEXT with mixed line ends, comments, writes that split
                                 characters, and an event after [DONE]
    fault-json                   a plain JSON chat.completion even when asked to stream
    fault-html                   200 text/html sign-in page
    fault-plain-error            502 text/plain "Bad Gateway"
    fault-malformed              `tokens` (3) chunks, a truncated JSON event, ~1 s open, then end
    fault-error-event            `tokens` (3) chunks, then an SSE `{"error": ...}` event
    fault-length                 the demo reply with finish_reason "length"
    fault-content-filter         the demo reply with finish_reason "content_filter"
    fault-tool-calls             two streamed get_weather tool calls, finish_reason "tool_calls"
    fault-refusal                a streamed refusal, content null
    fault-choices                `n` (2) choices with interleaved chunks
    fault-slow                   the demo reply after 2 s, at 5 tokens/s

Options go in the request's extra body field `nbstream` (a dict real servers never see):
`text`, `tokens`, `rate` (tokens/s, 0 = no pacing), `first_token_delay`, `fail_status` with
`fail_times` (1), `key` ("default") and `retry_after`, `stall`, `keepalive`, `reject_status`.
Stream-only faults answer non-streaming requests normally, except that fault-stall still
stalls and fault-disconnect still cuts the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .faults import ABORT, FAULTS, FRAMING_TEXT, Abort, Fault, Op, Pacer, Pause, Write, build_reply
from .requests import (
    Refusal,
    RequestLog,
    RequestRecord,
    include_usage,
    parse_body,
    request_options,
    validate,
)

__all__ = [
    "DEMO_MODEL",
    "FRAMING_TEXT",
    "OfflineServer",
    "RequestLog",
    "RequestRecord",
    "create_app",
    "serve",
]

DEMO_MODEL = "nbstream-demo"
_DEMO = Fault()
_CREATED = 1_735_689_600  # a fixed "created" for the model list
_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body><h1>Sign in</h1>"
    '<form method="post" action="/login"><input name="user"><input name="password" '
    'type="password"><button>Sign in</button></form></body></html>'
)


class _Abort(Exception):
    """Raised to uvicorn so that it closes the connection in the middle of a body."""


class _HideAborts(logging.Filter):
    # uvicorn logs every exception from the app with a traceback; aborts are deliberate.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Abort))


async def _race(play: Callable[[], Awaitable[str]], receive: Receive, stopping: anyio.Event) -> str:
    """Run `play` until it ends, the client disconnects, or the server stops; the outcome."""
    outcome = "disconnected"
    async with anyio.create_task_group() as group:

        async def run() -> None:
            nonlocal outcome
            outcome = await play()
            group.cancel_scope.cancel()

        async def watch_client() -> None:
            # Do not rely on send() failing: a stalled stream sends nothing for a long time.
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        async def watch_server() -> None:
            nonlocal outcome
            await stopping.wait()
            outcome = "aborted"
            group.cancel_scope.cancel()

        for task in (run, watch_client, watch_server):
            group.start_soon(task)
    return outcome


class _Played(Response):
    """A response that plays ops to the client and records how that ended."""

    def __init__(
        self,
        backend: _Backend,
        record: RequestRecord,
        ops: list[Op],
        *,
        media_type: str,
        pacer: Pacer,
        headers: dict[str, str] | None = None,
        eager: bool = False,
    ) -> None:
        self.status_code, self.media_type, self.background = 200, media_type, None
        self.init_headers(headers)
        self.backend, self.record, self.ops, self.pacer = backend, record, ops, pacer
        self.eager = eager  # send the headers before the first write (streams do)
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send
        if self.eager:
            await self.start()
        outcome = await _race(self.play, receive, self.backend.stopping())
        if outcome != "complete":
            self.backend.log._end(self.record, outcome, 200)
        if outcome == "aborted":
            raise _Abort

    async def start(self) -> None:
        self.started = True
        await self.send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )

    async def write(self, data: bytes) -> None:
        if not self.started:
            await self.start()
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def play(self) -> str:
        for op in self.ops:
            if isinstance(op, Abort):
                return "aborted"
            if isinstance(op, Pause):
                await self.pause(op)
                continue
            # Always yield, so the loop notices a gone client before asyncio starts warning
            # about writes into a dead socket.
            await (self.pacer.wait() if op.paced else anyio.sleep(0))
            if op.events:  # counted first, so a client that has read them sees them counted
                self.backend.log._update(
                    self.record, chunks_sent=self.record.chunks_sent + op.events
                )
            await self.write(op.data)
        if not self.started:
            await self.start()
        self.backend.log._end(self.record, "complete", 200)
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        return "complete"

    async def pause(self, op: Pause) -> None:
        end = time.monotonic() + op.seconds
        while (left := end - time.monotonic()) > 0:
            await anyio.sleep(min(left, op.keepalive or left))
            if op.keepalive and time.monotonic() < end:
                await self.write(b": keep-alive\n\n")
        self.pacer.shift(op.seconds)


class _Backend:
    """The chat endpoint's state: defaults, fail counters, and the request log."""

    def __init__(self, rate: float, first_token_delay: float, log: RequestLog) -> None:
        self.rate, self.delay, self.log = rate, first_token_delay, log
        self.failures: dict[str, int] = {}
        self._stopping: anyio.Event | None = None

    def stopping(self) -> anyio.Event:
        if self._stopping is None:  # created lazily: it must belong to the server's loop
            self._stopping = anyio.Event()
        return self._stopping

    def stop_streams(self) -> None:
        """Abort every stream in progress; call on the server's loop."""
        if self._stopping is not None:
            self._stopping.set()

    async def models(self, request: Request) -> JSONResponse:
        data = [
            {
                "id": name,
                "object": "model",
                "created": _CREATED,
                "owned_by": "nbstream" if name == DEMO_MODEL else "nbstream-faults",
            }
            for name in (DEMO_MODEL, *FAULTS)
        ]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
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
            )
        )
        try:
            return self.answer(validate(body), record)
        except Refusal as refusal:
            self.log._end(record, "error", refusal.status)
            return refusal.response()

    def answer(self, body: dict[str, Any], record: RequestRecord) -> Response:
        model = body["model"]
        fault = _DEMO if model == DEMO_MODEL else FAULTS.get(model)
        if fault is None:
            raise Refusal(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        opts = request_options(body, fault)
        if model == "fault-401":
            key = (record.authorization or "").removeprefix("Bearer ")
            raise Refusal(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
        self.fail_if_asked(opts)
        if model == "fault-reject-stream-options" and "stream_options" in body:
            raise Refusal(
                opts.get("reject_status", 400),
                "Unrecognized request argument supplied: stream_options",
                param="stream_options",
            )
        if model in ("fault-html", "fault-plain-error"):
            html = model == "fault-html"
            self.log._end(record, "complete" if html else "error", 200 if html else 502)
            return HTMLResponse(_LOGIN_PAGE) if html else PlainTextResponse("Bad Gateway", 502)
        return self.play(model, body, fault, opts, record)

    def fail_if_asked(self, opts: dict[str, Any]) -> None:
        """Raise the `fail_status` error for the first `fail_times` requests with this key."""
        status, key = opts.get("fail_status"), opts.get("key", "default")
        if status is None or self.failures.get(key, 0) >= opts.get("fail_times", 1):
            return
        self.failures[key] = self.failures.get(key, 0) + 1
        retry = opts.get("retry_after")
        headers = None if retry is None else {"Retry-After": retry}
        if status == 429:
            raise Refusal(
                429,
                f"Rate limit reached, retry after {retry or 1} s (offline fault).",
                "rate_limit_exceeded",
                code="rate_limit_exceeded",
                headers=headers,
            )
        if status >= 500:
            raise Refusal(
                status,
                "The server had an error while processing your request.",
                "server_error",
                headers=headers,
            )
        raise Refusal(status, f"Offline fault: HTTP {status}.", headers=headers)

    def play(
        self,
        model: str,
        body: dict[str, Any],
        fault: Fault,
        opts: dict[str, Any],
        record: RequestRecord,
    ) -> Response:
        rate = opts.get("rate", self.rate)
        delay = opts.get("first_token_delay", self.delay)
        stream = bool(body.get("stream")) and fault.streams
        reply = build_reply(
            body,
            fault,
            opts,
            rate,
            delay,
            include_usage=stream and fault.usage and include_usage(body),
        )
        pacer = Pacer(rate, delay)
        if stream:
            return _Played(
                self,
                record,
                fault.stream(reply, opts),
                pacer=pacer,
                eager=True,
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        data = json.dumps(reply.completion(), ensure_ascii=False).encode()
        wait = delay + (reply.usage()["completion_tokens"] / rate if rate > 0 else 0.0)
        if model == "fault-stall":
            wait += opts.get("stall", 3600.0)
        ops: list[Op] = [Pause(wait), Write(data, 0)]
        if model == "fault-disconnect":
            ops[1:] = [Write(data[: len(data) // 2], 0), ABORT]
        return _Played(
            self,
            record,
            ops,
            pacer=pacer,
            media_type="application/json",
            headers={"Content-Length": str(len(data))},
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Wrong path or method, in OpenAI's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return Refusal(status, f"Invalid URL ({request.method} {request.url.path})").response()


def create_app(
    *, rate: float = 100.0, first_token_delay: float = 0.05, log: RequestLog | None = None
) -> Starlette:
    """The offline server's ASGI app; `rate` (tokens/s, 0 = unpaced) and delay are defaults."""
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideAborts) for f in errors.filters):
        errors.addFilter(_HideAborts())
    backend = _Backend(rate, first_token_delay, log if log is not None else RequestLog())
    app = Starlette(
        routes=[
            Route("/v1/models", backend.models, methods=["GET"]),
            Route("/v1/chat/completions", backend.chat, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.backend, app.state.log = backend, backend.log
    return app


class _Uvicorn(uvicorn.Server):
    """uvicorn that reports when it listens and aborts open streams when asked to exit."""

    def __init__(self, app: Starlette, on_started: Callable[[], None]) -> None:
        super().__init__(
            uvicorn.Config(
                app, log_level="warning", access_log=False, lifespan="off", http="auto", ws="none"
            )
        )
        self.backend: _Backend = app.state.backend
        self.on_started = on_started
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.backend.stopping()  # now, so that stop_streams() finds it
        await super().startup(sockets=sockets)
        if self.started:
            self.on_started()

    def stop_streams(self) -> None:
        """Abort open streams, from any thread: uvicorn would wait for them to end."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.backend.stop_streams)

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.stop_streams()
        super().handle_exit(sig, frame)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"


class OfflineServer:
    """The offline server on a daemon thread with its own event loop; also a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate: float = 100.0,
        first_token_delay: float = 0.05,
    ) -> None:
        self.host, self.port = host, port
        self.rate, self.first_token_delay = rate, first_token_delay
        self.log = RequestLog()
        self._server: _Uvicorn | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL for OpenAI clients, e.g. http://127.0.0.1:PORT/v1."""
        return _url(self.host, self.port)

    def start(self) -> OfflineServer:
        """Start serving; returns once the server accepts connections."""
        if self._server is not None:
            return self
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        app = create_app(rate=self.rate, first_token_delay=self.first_token_delay, log=self.log)
        self._server = server = _Uvicorn(app, on_started=ready.set)

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            finally:
                ready.set()  # also when startup failed, so start() does not hang

        self._thread = threading.Thread(target=run, name="nbstream-offline-server", daemon=True)
        self._thread.start()
        ready.wait()
        if not server.started:
            self._server = None
            raise RuntimeError(f"nbstream offline server failed to start on {self.url}")
        return self

    def stop(self) -> None:
        """Stop serving, aborting open streams; safe to call twice."""
        server, self._server = self._server, None
        if server is None or self._thread is None:
            return
        server.stop_streams()
        server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> OfflineServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(host: str, port: int, rate: float, first_token_delay: float) -> None:
    """Run the offline server in the foreground until Ctrl-C."""
    sock = _bind(host, port)
    line = (
        f"nbstream offline server at {_url(host, sock.getsockname()[1])} (demo model: {DEMO_MODEL})"
    )
    app = create_app(rate=rate, first_token_delay=first_token_delay)
    server = _Uvicorn(app, on_started=lambda: print(line, flush=True))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        server.run(sockets=[sock])
