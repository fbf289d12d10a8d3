"""Server-wide pacing for the offline server: what a busy self-hosted server or a rate-limited
cloud API does to many requests at once, so `nbstream.map` can be tested and measured offline.

    capacity     requests served at once; the rest wait in a queue, as a vLLM server's do
    storm        the share of chat requests refused with 429 and `Retry-After: retry_after`
    per_window   requests allowed each `window` seconds, told in `x-ratelimit-*` headers on
                 every answer; past it, 429 with `x-ratelimit-remaining-requests: 0`

A pure ASGI middleware in front of the app: it sees every request before the endpoints do.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .requests import Refusal, RequestLog, RequestRecord


@dataclass(frozen=True)
class Pacing:
    """How the whole server paces requests (None and 0: not at all)."""

    capacity: int | None = None
    storm: float = 0.0
    retry_after: float = 1.0
    per_window: int | None = None
    window: float = 60.0


class PacingMiddleware:
    """Applies a `Pacing` to POSTs to a chat completions path; its state lives on the server's
    loop (counters and the semaphore are touched only there)."""

    def __init__(self, app: ASGIApp, pacing: Pacing, log: RequestLog) -> None:
        self.app, self.pacing, self.log = app, pacing, log
        self.count = 0  # chat requests seen
        self._slots: anyio.Semaphore | None = None  # made on first use, on the server's loop
        self._window_start, self._window_used = time.monotonic(), 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        self.count += 1
        headers, refusal = self._window()
        if refusal is None and self._stormed():
            refusal = Refusal(429, "Rate limit reached (offline storm).", "rate_limit_exceeded",
                              code="rate_limit_exceeded",
                              headers={"Retry-After": f"{self.pacing.retry_after:g}"})  # fmt: skip
        if refusal is not None:
            self.log._end(self.log._add(_refused()), "error", 429)
            await refusal.response()(scope, receive, send)
            return
        async with self._capacity():
            await self.app(scope, receive, _with_headers(send, headers))

    def _stormed(self) -> bool:
        # Exactly `storm` of the requests, spread evenly: every fifth one for 0.2.
        share = self.pacing.storm
        return share > 0 and math.floor(self.count * share) > math.floor((self.count - 1) * share)

    def _window(self) -> tuple[dict[str, str], Refusal | None]:
        """The x-ratelimit headers of this request, and the refusal once the window is spent."""
        limit = self.pacing.per_window
        if limit is None:
            return {}, None
        now = time.monotonic()
        if now - self._window_start >= self.pacing.window:
            self._window_start, self._window_used = now, 0
        reset = f"{max(self._window_start + self.pacing.window - now, 0.0):.3f}s"
        left = limit - self._window_used
        told = {"x-ratelimit-limit-requests": str(limit),
                "x-ratelimit-remaining-requests": str(max(left - 1, 0)),
                "x-ratelimit-reset-requests": reset}  # fmt: skip
        if left <= 0:
            return {}, Refusal(429, "Rate limit reached for requests.", "requests",
                               code="rate_limit_exceeded", headers=told)  # fmt: skip
        self._window_used += 1
        return told, None

    def _capacity(self) -> Any:
        if self.pacing.capacity is None:
            return _NoLimit()
        if self._slots is None:
            self._slots = anyio.Semaphore(self.pacing.capacity)
        return self._slots


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    if not headers:
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            extra = [(k.encode(), v.encode()) for k, v in headers.items()]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


def _refused() -> RequestRecord:
    return RequestRecord(model="", body={}, authorization=None, stream=True,
                         include_usage=False)  # fmt: skip
