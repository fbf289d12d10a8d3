"""nbstream's offline backend: an OpenAI-compatible server for demos and tests.

`nbstream serve` runs it in the foreground, `OfflineServer` on a background thread. It answers
`GET /v1/models`, `POST /v1/chat/completions` and `POST /v1/responses` for the demo models,
which describe the request they got, and, when started with fault models on (`--faults`,
$NBSTREAM_OFFLINE_FAULTS=1), for fault models that misbehave on purpose. Without them the demo
model answers any model name; with them an unknown name is a 404, as OpenAI says it:

    nbstream-demo                the demo reply
    nbstream-reasoning-content   reasoning first, in `delta.reasoning_content` (DeepSeek)
    nbstream-reasoning           reasoning first, in `delta.reasoning` (Ollama, OpenRouter)
    nbstream-think               reasoning in content between <think> tags (Qwen)
    nbstream-hidden-reasoning    reasoning counted in the usage but never sent (OpenAI)
    fault-401                    401 whose message echoes the full API key (tests redaction)
    fault-disconnect             `tokens` (5) chunks, then the connection is cut mid-body
    fault-no-finish              `tokens` (5) chunks, then a clean end: no finish_reason, no [DONE]
    fault-no-done                a normal stream without `data: [DONE]`
    fault-stall                  `tokens` (3) chunks, `stall` s (3600) of silence or of
                                 `: keep-alive` comments every `keepalive` s, then the end
    fault-reject-stream-options  `reject_status` (400) if the body has stream_options
    fault-no-usage               never sends the usage chunk
    fault-zero-usage             usage with every count 0 (LitServe)
    fault-framing                FRAMING_TEXT with mixed line ends, comments, writes that split
                                 characters, and an event after [DONE]
    fault-json                   a plain JSON reply even when asked to stream
    fault-html                   200 text/html sign-in page
    fault-plain-error            502 text/plain "Bad Gateway"
    fault-malformed              `tokens` (3) chunks, a truncated JSON event, ~1 s open, then end
    fault-error-event            `tokens` (3) chunks, then an in-band error event
    fault-length                 the demo reply with finish_reason "length"
    fault-content-filter         the demo reply with finish_reason "content_filter"
    fault-tool-calls             two streamed get_weather tool calls, finish_reason "tool_calls"
    fault-refusal                a streamed refusal, content null
    fault-choices                `n` (2) choices with interleaved chunks
    fault-slow                   the demo reply after 2 s, at 5 tokens/s
    fault-responses-only         404 on /v1/chat/completions as OpenAI says it; hidden
                                 reasoning on /v1/responses
    fault-tool-bad-json, fault-tool-unknown, fault-tool-loop
                                 misbehave when offered tools (see offline/tooldemo.py)

A request that offers `tools` gets a call of the first one (`tool_calls`: that many, in
parallel; `tool_arguments`: these arguments), then, once the results are in, an answer quoting
them. A `tool` message that does not follow its call is a 400, as OpenAI says it.

Options go in the request's extra body field `nbstream` (a dict real servers never see):
`text`, `tokens`, `rate` (tokens/s, 0 = no pacing), `first_token_delay`, `fail_status` with
`fail_times` (1), `key` ("default"), `retry_after` and `fail_headers` (a dict), `fail_in_band`
(send the failure as an error event in a 200 stream), `stall`, `keepalive`, `reject_status`,
`unknown_as` ("litellm" or "openrouter": answer an unknown model with their 400), and `replay`
(SSE text played as given, one paced write per event: a provider's documented stream).
Stream-only faults answer non-streaming requests normally, except that fault-stall still
stalls and fault-disconnect still cuts the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .backend import DEMO_MODEL, Backend
from .batches import Batches
from .faults import FRAMING_TEXT
from .files import Files
from .pacing import Pacing, PacingMiddleware
from .playing import HideAborts
from .requests import Refusal, RequestLog, RequestRecord

#: Set to 1 to serve the fault models (tests); `nbstream serve --faults` does the same.
FAULTS_ENV = "NBSTREAM_OFFLINE_FAULTS"

__all__ = [
    "DEMO_MODEL",
    "FAULTS_ENV",
    "FRAMING_TEXT",
    "OfflineServer",
    "Pacing",
    "RequestLog",
    "RequestRecord",
    "create_app",
    "faults_on",
    "serve",
]


async def _http_error(request: Request, exc: Exception) -> Response:
    """Wrong path or method, in OpenAI's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return Refusal(status, f"Invalid URL ({request.method} {request.url.path})").response()


def create_app(
    *,
    rate: float = 100.0,
    first_token_delay: float = 0.05,
    log: RequestLog | None = None,
    faults: bool = False,
    pacing: Pacing | None = None,
    batches: bool = True,
) -> Starlette:
    """The offline server's ASGI app; `rate` (tokens/s, 0 = unpaced) and delay are defaults;
    `faults` adds the fault models (and makes an unknown model a 404); `pacing` queues and
    rate-limits the whole server (offline.pacing); `batches=False` serves no Batch API (as
    vLLM's server)."""
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, HideAborts) for f in errors.filters):
        errors.addFilter(HideAborts())
    backend = Backend(
        rate, first_token_delay, log if log is not None else RequestLog(), faults=faults
    )
    app = Starlette(
        routes=_routes(backend, batches),
        exception_handlers={HTTPException: _http_error},
        middleware=[Middleware(PacingMiddleware, pacing=pacing, log=backend.log)] if pacing else [],
    )
    app.state.backend, app.state.log = backend, backend.log
    return app


def _routes(backend: Backend, batches: bool) -> list[Route]:
    """Every endpoint, `METHOD path`; the Batch API's (offline.files, offline.batches) only
    with `batches`."""
    files = Files()
    jobs = Batches(backend, files)
    endpoints: dict[str, Callable[[Request], Awaitable[Response]]] = {
        "GET /v1/models": backend.models,
        "POST /v1/chat/completions": backend.chat,
        "POST /v1/responses": backend.responses,
        "POST /v1/files": files.upload,
        "GET /v1/files/{file_id}": files.get,
        "GET /v1/files/{file_id}/content": files.content,
        "POST /v1/batches": jobs.create,
        "GET /v1/batches/{batch_id}": jobs.get,
        "POST /v1/batches/{batch_id}/cancel": jobs.cancel,
        # Colab's model proxy layout (google/colab/ai.py), so that backend can be tested.
        "GET /models": backend.models,
        "GET /models/openapi/models": backend.models,
        "POST /models/openapi/chat/completions": backend.chat,
    }
    routes = []
    for endpoint, handler in endpoints.items():
        method, path = endpoint.split()
        if batches or not path.startswith(("/v1/files", "/v1/batches")):
            routes.append(Route(path, handler, methods=[method]))
    return routes


class _Uvicorn(uvicorn.Server):
    """uvicorn that reports when it listens and aborts open streams when asked to exit."""

    def __init__(self, app: Starlette, on_started: Callable[[], None]) -> None:
        super().__init__(
            uvicorn.Config(
                app, log_level="warning", access_log=False, lifespan="off", http="auto", ws="none"
            )
        )
        self.backend: Backend = app.state.backend
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
        faults: bool | None = None,
        pacing: Pacing | None = None,
        batches: bool = True,
    ) -> None:
        self.host, self.port, self.pacing, self.batches = host, port, pacing, batches
        self.rate, self.first_token_delay = rate, first_token_delay
        self.faults = faults_on() if faults is None else faults
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
        app = create_app(
            rate=self.rate, first_token_delay=self.first_token_delay, log=self.log,
            faults=self.faults, pacing=self.pacing, batches=self.batches,
        )  # fmt: skip
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


def faults_on() -> bool:
    """Whether $NBSTREAM_OFFLINE_FAULTS turns the fault models on (the tests set it)."""
    return os.environ.get(FAULTS_ENV, "") not in ("", "0")


def serve(
    host: str,
    port: int,
    rate: float,
    first_token_delay: float,
    faults: bool = False,
    pacing: Pacing | None = None,
) -> None:
    """Run the offline server in the foreground until Ctrl-C."""
    sock = _bind(host, port)
    url = _url(host, sock.getsockname()[1])
    said = (
        f"nbstream offline server at {url} (demo model: {DEMO_MODEL})\n"
        + (
            "  fault models on: an unknown model name is a 404\n"
            if faults
            else "  any model name works: each is answered by the demo model\n"
        )
        + (f"  point nbstream at it: export OPENAI_BASE_URL={url}\n  stop it with Ctrl-C")
    )
    app = create_app(rate=rate, first_token_delay=first_token_delay, faults=faults, pacing=pacing)
    server = _Uvicorn(app, on_started=lambda: print(said, flush=True))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        server.run(sockets=[sock])
