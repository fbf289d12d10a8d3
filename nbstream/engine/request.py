"""What goes to the SDK: the request, the streaming call for each API, the body's bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ConfigError
from ..settings import Api
from .clients import openai
from .failures import as_sdk_error
from .responses import request_kwargs

#: Parameters the SDK's `create()` knows by name; anything else goes in the JSON body as is.
SDK_PARAMS = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "n",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user",
    "tools", "tool_choice", "response_format", "reasoning_effort", "parallel_tool_calls",
    "metadata", "modalities", "prediction", "service_tier", "store",
}  # fmt: skip


class ApiMemory(Protocol):
    """What a server was found to need, per base URL and model: /v1/responses only, a
    structured-output fallback. Blocking, so called off the loop."""

    def responses_only(self, base_url: str, model: str) -> bool:
        """True if the server said so before."""

    def responses_only_at_hand(self, base_url: str, model: str) -> bool | None:
        """`responses_only` if it can be answered without blocking, else None."""

    def remember(self, base_url: str, model: str) -> None:
        """Note that the server serves `model` on /v1/responses only."""

    def schema_level(self, base_url: str, model: str) -> int:
        """How far structured output had to fall back before (see structured.LEVELS)."""

    def remember_schema_level(self, base_url: str, model: str, level: int) -> None:
        """Note that `model` needs structured-output fallback `level`."""


async def remembered_responses_only(memory: ApiMemory | None, key: tuple[str, str]) -> bool:
    """Whether `memory` knows the server serves the model on /v1/responses only. Read off the
    loop only when that would block: each hop waits its turn on a busy loop."""
    if memory is None:
        return False
    known = memory.responses_only_at_hand(*key)
    return known if known is not None else await asyncio.to_thread(memory.responses_only, *key)


@dataclass(frozen=True)
class ChatRequest:
    """What to send: messages, model, and request parameters (temperature, ...)."""

    messages: list[dict[str, Any]]
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    attached: str = ""  # what the prompt attaches, for the footer: '1 image, 1 table (344×7)'
    image_tokens: int = 0  # the prompt tokens of the images in `messages` (OpenAI's tile formula)


def open_stream(client: Any, request: ChatRequest, api: Api, include_usage: bool) -> Any:
    """The SDK's streaming-response context manager for `request` on `api`."""
    if api is Api.CHAT:
        kwargs = chat_kwargs(request, include_usage)
        return client.chat.completions.with_streaming_response.create(**kwargs)
    responses = getattr(client, "responses", None)
    if responses is None:
        raise ConfigError(
            f"the Responses API needs a newer openai package than {openai.__version__}",
            "pip install -U openai",
        )
    body = request_kwargs(request.model, request.messages, request.params)
    model, items = body.pop("model"), body.pop("input")
    # Everything else as JSON: the SDK's signature for it changes between releases.
    return responses.with_streaming_response.create(
        model=model, input=items, stream=request.stream, extra_body=body
    )


def chat_kwargs(request: ChatRequest, include_usage: bool) -> dict[str, Any]:
    """The Chat Completions `create()` keywords; unknown parameters go in the JSON body."""
    params = dict(request.params)
    extra = {k: params.pop(k) for k in list(params) if k not in SDK_PARAMS}
    # Reasoning items go back only to the API that asks for them: DeepSeek answers 400 to
    # reasoning sent over Chat Completions.
    messages = [{k: v for k, v in m.items() if k != "reasoning_items"} for m in request.messages]
    kwargs: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "stream": request.stream,
        **params,
    }
    if include_usage and request.stream:
        kwargs["stream_options"] = {"include_usage": True}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


async def reads(http: Any) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive; the HTTP library's errors as the SDK's."""
    try:
        async for data in http.aiter_bytes():
            yield data
    except Exception as err:
        mapped = as_sdk_error(err, http.request)
        if mapped is err:
            raise
        raise mapped from err
