"""The stream engine: one request in, events to a sink, one ChatResult out.

Runs on nbstream's loop thread with the SDK's async client. Knows nothing of IPython.
Failures before the first token raise an `NbStreamError` (nothing to keep); after it, the
partial reply is kept: a dropped or unfinished stream returns an INCOMPLETE result, a broken
one raises `StreamError` carrying a FAILED result, a cancel leaves an INTERRUPTED `result`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Protocol

from ..errors import (
    BadResponseError,
    NbStreamError,
    RateLimitError,
    ReplyTimeoutError,
    RequestError,
    StreamError,
)
from ..settings import Settings
from .clients import client_for, openai
from .failures import (
    RETRYABLE,
    as_sdk_error,
    rejects_stream_options,
    retry_wait,
    short_cause,
    translate,
)
from .result import (
    OFFLINE_BACKEND,
    Accumulator,
    ChatResult,
    Event,
    Retrying,
    Status,
    estimate_tokens,
)

Sink = Callable[[Event], None]
#: Parameters the SDK's `create()` knows by name; anything else goes in the JSON body as is.
SDK_PARAMS = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "n",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user",
    "tools", "tool_choice", "response_format", "reasoning_effort", "parallel_tool_calls",
    "metadata", "modalities", "prediction", "service_tier", "store",
}  # fmt: skip


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


@dataclass(frozen=True)
class ChatRequest:
    """What to send: messages, model, and request parameters (temperature, ...)."""

    messages: list[dict[str, Any]]
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = True


class ChatStream:
    """One streamed turn. `run()` on the loop thread; `snapshot()` from any thread."""

    def __init__(
        self,
        request: ChatRequest,
        settings: Settings,
        sink: Sink | None = None,
        *,
        notice: str | None = None,
    ) -> None:
        self.request = request
        self.settings = settings
        self._notice = notice  # said first, once the turn runs (the offline server's notice)
        self.sink: Sink = sink or (lambda event: None)
        self._acc = Accumulator()
        self._prompt_estimate = sum(
            estimate_tokens(str(m.get("content") or "")) + 3 for m in request.messages
        )
        self.result: ChatResult | None = None  # set when the turn has ended, however

    @property
    def has_output(self) -> bool:
        """True once reply content arrived: from then on, nothing is retried or dropped."""
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
            client = await client_for(self.settings)
            include_usage = True
            for attempt in range(self.settings.max_retries + 2):
                try:
                    return await self._attempt(client, include_usage)
                except openai.APIStatusError as err:
                    if include_usage and rejects_stream_options(err):
                        include_usage = False
                        self._emit(
                            self._acc.notice("server rejected stream_options; usage estimated")
                        )
                        continue
                    await self._retry_or_raise(err, attempt)
                except (openai.APITimeoutError, openai.APIConnectionError) as err:
                    if self.has_output:
                        raise
                    await self._retry_or_raise(err, attempt)
            raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover
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
        except openai.APIError as err:
            raise self._broken(
                f"the server reported an error mid-stream: {self.settings.redact(err.message)}",
                "the partial reply was kept; run the cell again",
            ) from None

    async def _attempt(self, client: Any, include_usage: bool) -> ChatResult:
        self._acc.start()
        kwargs = self._create_kwargs(include_usage)
        opened = client.chat.completions.with_streaming_response.create(**kwargs)
        async with opened as response:
            kind = response.headers.get("content-type", "")
            if "html" in kind:
                page = (await response.text())[:200]
                raise BadResponseError(
                    f"200 from {self.settings.host} is a web page, not a chat completion: {page!r}",
                    "check the base URL: it should end in /v1 and need no login page",
                )
            if "json" in kind:
                self._feed(completion_as_chunk(await response.json()))
            else:
                await self._consume(response)
        if self._acc.finish_reason is None:
            return self._end(Status.INCOMPLETE, "the stream ended without a finish reason")
        return self._end(Status.COMPLETE)

    async def _consume(self, response: Any) -> None:
        chunks = (await response.parse()).__aiter__()
        first_token = self.settings.first_token_timeout
        try:
            while not self.has_output:  # the first token has a deadline of its own
                self._feed(await asyncio.wait_for(chunks.__anext__(), self._until(first_token)))
            async for chunk in chunks:  # then only the idle timeout applies, in the SDK
                self._feed(chunk)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise ReplyTimeoutError(
                f"no first token from {self.settings.host} within {first_token:g} s",
                "raise NbStream.first_token_timeout or try again later",
            ) from None
        except Exception as err:
            raise as_sdk_error(err, response.http_response.request) from err

    def _until(self, deadline: float) -> float:
        return max(deadline - self._acc.elapsed(), 0.0)

    def _create_kwargs(self, include_usage: bool) -> dict[str, Any]:
        params = dict(self.request.params)
        extra = {k: params.pop(k) for k in list(params) if k not in SDK_PARAMS}
        kwargs: dict[str, Any] = {
            "model": self.request.model,
            "messages": self.request.messages,
            "stream": self.request.stream,
            **params,
        }
        if include_usage and self.request.stream:
            kwargs["stream_options"] = {"include_usage": True}
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def _feed(self, chunk: Any) -> None:
        for event in self._acc.feed(chunk):
            self._emit(event)

    def _emit(self, event: Event) -> None:
        self.sink(event)

    def _result_args(self) -> dict[str, Any]:
        backend = OFFLINE_BACKEND if self.settings.offline else self.settings.host
        return {"prompt_estimate": self._prompt_estimate, "backend": backend}

    def _end(self, status: Status, error: str | None = None) -> ChatResult:
        if self.result is None:
            self.result = self._acc.result(status, error=error, **self._result_args())
        return self.result

    def _broken(self, message: str, hint: str) -> NbStreamError:
        result = self._end(Status.FAILED, message)
        if not self.has_output:
            return RequestError(message, hint)
        return StreamError(message, hint, result=result)

    async def _retry_or_raise(self, err: openai.APIError, attempt: int) -> None:
        # httpx and httpx2 both name it so; a read timeout is a silent server, not worth a retry.
        if type(err.__cause__).__name__ == "ReadTimeout":
            raise ReplyTimeoutError(
                f"no data from {self.settings.host} for {self.settings.idle_timeout:g} s",
                "the server is slow to answer; raise NbStream.idle_timeout",
            )
        status = getattr(err, "status_code", None)
        retryable = status is None or status in RETRYABLE
        if not retryable or attempt >= self.settings.max_retries:
            raise await translate(err, self.settings, attempts=attempt + 1)
        wait = retry_wait(err, attempt)
        if wait > self.settings.max_retry_wait:
            raise RateLimitError(
                f"{status} from {self.settings.host}: the server asks to wait {wait:g} s, "
                f"longer than nbstream waits ({self.settings.max_retry_wait:g} s)",
                "try again later, or raise NbStream.max_retry_wait",
                status=status,
            )
        reason = "rate limited" if status == 429 else short_cause(err, self.settings)
        self._emit(Retrying(reason, wait, attempt + 1))
        await asyncio.sleep(wait)


def completion_as_chunk(data: dict[str, Any]) -> Any:
    """A plain chat.completion (a server that ignored `stream`) in the shape of one chunk."""
    choices = [
        SimpleNamespace(
            index=c.get("index", 0),
            delta=SimpleNamespace(**{"tool_calls": None, "refusal": None, **c.get("message", {})}),
            finish_reason=c.get("finish_reason") or "stop",
        )
        for c in data.get("choices") or ()
    ]
    usage = data.get("usage")
    return SimpleNamespace(
        id=data.get("id"),
        model=data.get("model"),
        created=data.get("created"),
        system_fingerprint=data.get("system_fingerprint"),
        choices=choices,
        usage=SimpleNamespace(**usage) if usage else None,
    )
