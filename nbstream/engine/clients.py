"""The openai SDK's async clients: one per event loop and server, the SDK imported on first use."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

from ..settings import Settings

if TYPE_CHECKING:
    import openai
else:

    class _Deferred:
        """A module imported on first use."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

    # `%load_ext nbstream` should not pay for importing the SDK (about 0.3 s): the first turn does.
    openai = _Deferred("openai")


async def list_models(settings: Settings) -> list[str]:
    """The model ids the server offers, or [] when `/models` does not answer."""
    try:
        client = await client_for(settings)
        page = await client.with_options(timeout=5.0, max_retries=0).models.list()
        return sorted(m.id for m in page.data)
    except (openai.OpenAIError, AttributeError, ValueError):
        return []


_clients: dict[tuple[Any, ...], Any] = {}


async def client_for(settings: Settings) -> Any:
    """The SDK's async client for these settings, made once per loop (clients bind to it)."""
    base_url = settings.base_url
    loop = asyncio.get_running_loop()
    key = (id(loop), base_url, settings.api_key, settings.azure_endpoint, settings.api_version,
           settings.connect_timeout, settings.idle_timeout)  # fmt: skip
    if key not in _clients:
        timeout = openai.Timeout(settings.idle_timeout, connect=settings.connect_timeout)
        common: dict[str, Any] = {"max_retries": 0, "timeout": timeout}
        if settings.azure_endpoint:
            _clients[key] = openai.AsyncAzureOpenAI(
                azure_endpoint=settings.azure_endpoint,
                api_version=settings.api_version,
                api_key=settings.api_key,
                **common,
            )
        else:
            # Local servers (Ollama, vLLM, llama.cpp) take any key, but the SDK insists on one.
            key_or_placeholder = settings.api_key or "no-key"
            _clients[key] = openai.AsyncOpenAI(
                api_key=key_or_placeholder, base_url=base_url, **common
            )
    return _clients[key]
