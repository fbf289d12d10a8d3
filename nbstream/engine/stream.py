"""The stream engine: one request in, events to a sink, one ChatResult out.

Runs on nbstream's loop thread with the SDK's async client, and reads the server-sent events
itself (`engine.sse`) so that keep-alive comments count as life and chunks stay plain dicts
for `engine.wire`. Knows nothing of IPython. Failures before the first token raise an
`NbStreamError` (nothing to keep); after it, the partial reply is kept: a dropped or unfinished
stream returns an INCOMPLETE result, a broken one raises `StreamError` carrying a FAILED result,
a cancel leaves an INTERRUPTED `result`. Reasoning tokens are tokens: they end the wait for the
first token and are kept like text.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from ..errors import (
    BadResponseError,
    ConfigError,
    NbStreamError,
    ReplyTimeoutError,
    RequestError,
    StreamError,
)
from ..settings import Api, Settings
from . import loop
from .accumulate import STOPPED_REASONING, Accumulator
from .clients import client_for, openai
from .failures import rejects_stream_options, responses_only, wait_after_rate_limit, wait_to_retry
from .request import ApiMemory, ChatRequest, open_stream, reads, remembered_responses_only
from .responses import ResponsesWire, completed_event
from .result import OFFLINE_BACKEND, ChatResult, Event, Finish, Status, prompt_estimate
from .sse import Comment, SSEParser
from .structured import SchemaFallback, memory_key, wants_schema
from .wire import ChatWire, ServerError

__all__ = ["ApiMemory", "ChatRequest", "ChatStream", "Sink", "TurnStream"]

Sink = Callable[[Event], None]
Wire = ChatWire | ResponsesWire


class TurnStream(Protocol):
    """What runs a turn: a live `ChatStream`, or a replay of a stored reply."""

    sink: Sink
    result: ChatResult | None

    @property
    def has_output(self) -> bool:
        """True once reply content arrived."""

    def snapshot(self) -> ChatResult:
        """The reply so far."""

    def interrupted(self) -> ChatResult:
        """End the turn as interrupted and return its result."""

    async def run(self) -> ChatResult:
        """Run the turn to its end."""


class _InBandError(Exception):
    """The server sent an error event inside a 200 stream."""

    def __init__(self, error: ServerError) -> None:
        super().__init__(error.message)
        self.error = error


class ChatStream:
    """One streamed turn. `run()` on the loop thread; `snapshot()` from any thread."""

    def __init__(
        self,
        request: ChatRequest,
        settings: Settings,
        sink: Sink | None = None,
        *,
        notice: str | None = None,
        apis: ApiMemory | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.request, self.settings = request, settings
        self._notice = notice  # said first, once the turn runs (the offline server's notice)
        self._apis = apis
        self.sink: Sink = sink or (lambda event: None)
        self.on_headers: Callable[[Mapping[str, str]], None] = lambda headers: None  # for pacing
        self._schema = SchemaFallback(request, memory_key(settings, request.model), apis)
        self._acc = Accumulator(clock=clock, hide_reasoning=settings.hide_reasoning,
                                pretty_json=wants_schema(request))  # fmt: skip
        self._prompt_estimate = prompt_estimate(request.messages, request.image_tokens)
        self.result: ChatResult | None = None  # set when the turn has ended, however

    @property
    def has_output(self) -> bool:
        """True once a generated token arrived: from then on, nothing is retried or dropped."""
        return self._acc.has_output

    def snapshot(self) -> ChatResult:
        """The reply so far (or the final result once the turn has ended)."""
        return self.result or self._acc.result(Status.INCOMPLETE, **self._result_args())

    def interrupted(self) -> ChatResult:
        """End the turn as interrupted (unless it already ended) and return its result."""
        return self._end(Status.INTERRUPTED)

    async def run(self) -> ChatResult:
        """Stream the reply; see the module docstring for how each ending is reported."""
        try:
            if self._notice:
                self._emit(self._acc.notice(self._notice))
            self.request = await self._schema.start()  # at the level remembered for the server
            api = await self._choose_api()
            return await self._attempts(await client_for(self.settings), api)
        except asyncio.CancelledError:
            self._end(Status.INTERRUPTED)
            raise
        except NbStreamError:
            self._end(Status.FAILED)
            raise
        except openai.APITimeoutError:
            raise self._broken(
                f"no data from {self.settings.host} for {self.settings.idle_timeout:g} s",
                "the server stalled; raise NbStream.idle_timeout if it is just slow",
            ) from None
        except openai.APIConnectionError:
            return self._end(Status.INCOMPLETE, "connection lost")
        except json.JSONDecodeError as err:
            raise self._broken(
                f"malformed event from {self.settings.host}: {err.doc[:80]!r}",
                "the server sent something that is not JSON; check it is OpenAI-compatible",
            ) from None
        except (openai.APIError, _InBandError) as err:
            message = self.settings.redact(str(getattr(err, "message", err)))
            raise self._broken(
                f"the server reported an error mid-stream: {message}",
                "the partial reply was kept; run the cell again",
            ) from None

    async def _attempts(self, client: Any, api: Api) -> ChatResult:
        include_usage, attempt = True, 0
        while True:
            try:
                return await self._attempt(client, api, include_usage)
            except openai.APIStatusError as err:
                if include_usage and api is Api.CHAT and rejects_stream_options(err):
                    include_usage = False
                    self._emit(self._acc.notice("server rejected stream_options; usage estimated"))
                    continue
                said = f"{err.body} {err.message}"
                notice = await self._schema.falls_back(err.status_code, said)
                if notice is not None:
                    self.request = self._schema.request()
                    self._emit(self._acc.notice(notice))
                    continue
                if api is Api.CHAT and self.settings.api is Api.AUTO and responses_only(err):
                    api = await self._switch_to_responses()
                    continue
                await wait_to_retry(err, attempt, self.settings, self._emit)
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                if self.has_output:
                    raise
                await wait_to_retry(err, attempt, self.settings, self._emit)
            except _InBandError as err:
                if self.has_output or not err.error.rate_limited:
                    raise
                await wait_after_rate_limit(err.error.message, attempt, self.settings, self._emit)
            attempt += 1

    async def _choose_api(self) -> Api:
        api, params = self.settings.api, self.request.params
        if "reasoning_summary" in params and api is Api.CHAT:
            raise ConfigError(
                "--reasoning-summary needs the Responses API, and api is 'chat'",
                "use --api responses (or auto), or drop --reasoning-summary",
            )
        if api is not Api.AUTO:
            return api
        if "reasoning_summary" in params:
            return Api.RESPONSES
        key = memory_key(self.settings, self.request.model)
        return Api.RESPONSES if await remembered_responses_only(self._apis, key) else Api.CHAT

    async def _switch_to_responses(self) -> Api:
        if self._apis is not None:
            key = memory_key(self.settings, self.request.model)
            await asyncio.to_thread(self._apis.remember, *key)
        self._emit(self._acc.notice(f"{self.request.model} is served on /v1/responses: using it"))
        return Api.RESPONSES

    async def _attempt(self, client: Any, api: Api, include_usage: bool) -> ChatResult:
        self._acc.start()
        wire: Wire = ChatWire(think_tags=self.settings.think_tags)
        if api is Api.RESPONSES:
            wire = ResponsesWire()
        async with open_stream(client, self.request, api, include_usage) as response:
            self.on_headers(response.headers)
            kind = response.headers.get("content-type", "")
            if "html" in kind:
                page = (await response.text())[:200]
                raise BadResponseError(
                    f"200 from {self.settings.host} is a web page, not a chat completion: {page!r}",
                    "check the base URL: it should end in /v1 and need no login page",
                )
            if "json" in kind:
                await self._whole(wire, await response.json())
            else:
                await self._consume(response.http_response, wire)
        if self._acc.stopped_reasoning:
            return self._end(Status.INCOMPLETE, STOPPED_REASONING)
        if self._acc.finish_reason is None:
            return self._end(Status.INCOMPLETE, "the stream ended without a finish reason")
        return self._end(Status.COMPLETE)

    async def _whole(self, wire: Wire, body: dict[str, Any]) -> None:
        """A reply sent whole (a server that ignored `stream`, or `--no-stream`)."""
        self._acc.counted()
        for event in completed_event(body) if isinstance(wire, ResponsesWire) else [body]:
            self._feed(wire, event)
        self._flush(wire)
        if self._acc.finish_reason is None:  # the whole reply is here, whatever it says
            self._acc.apply(Finish("stop"))

    async def _consume(self, http: Any, wire: Wire) -> None:
        parser, life = SSEParser(), 0.0  # life: when the server last showed it is alive
        chunks = reads(http)
        while True:
            try:
                data = await self._next(chunks, life)
            except StopAsyncIteration:
                self._flush(wire)
                return
            for item in parser.feed(data):
                if isinstance(item, Comment):
                    life = self._acc.elapsed()
                elif item.data == "[DONE]":
                    self._flush(wire)
                    return
                else:
                    self._acc.counted()
                    self._feed(wire, json.loads(item.data))

    async def _next(self, chunks: AsyncIterator[bytes], life: float) -> bytes:
        """The next bytes; before the first token, within the first-token deadline, which
        keep-alive comments restart (the idle timeout applies throughout, in the client)."""
        if self.has_output:
            return await chunks.__anext__()
        deadline = self.settings.first_token_timeout
        try:
            left = max(deadline - (self._acc.elapsed() - life), 0.0)
            return await loop.within(chunks.__anext__(), left)
        except asyncio.TimeoutError:
            raise ReplyTimeoutError(
                f"no first token from {self.settings.host} within {deadline:g} s",
                "raise NbStream.first_token_timeout or try again later",
            ) from None

    def _feed(self, wire: Wire, data: Any) -> None:
        if not isinstance(data, dict):
            raise json.JSONDecodeError("not a JSON object", str(data), 0)
        try:
            events = wire.feed(data)
        except (AttributeError, TypeError):  # a field of the wrong type: `"delta": "text"`
            raise json.JSONDecodeError("not a chunk", json.dumps(data), 0) from None
        for event in events:
            if isinstance(event, ServerError):
                raise _InBandError(event)
            passed = self._acc.apply(event)
            if passed is not None:
                self._emit(passed)

    def _flush(self, wire: Wire) -> None:
        for event in wire.end():
            passed = self._acc.apply(event)
            if passed is not None:
                self._emit(passed)

    def _emit(self, event: Event) -> None:
        self.sink(event)

    def _result_args(self) -> dict[str, Any]:
        backend = OFFLINE_BACKEND if self.settings.offline else self.settings.host
        attached = self.request.attached
        return {"prompt_estimate": self._prompt_estimate, "backend": backend, "attached": attached}

    def _end(self, status: Status, error: str | None = None) -> ChatResult:
        if self.result is None:
            self.result = self._acc.result(status, error=error, **self._result_args())
        return self.result

    def _broken(self, message: str, hint: str) -> NbStreamError:
        result = self._end(Status.FAILED, message)
        if not self.has_output:
            return RequestError(message, hint)
        return StreamError(message, hint, result=result)
