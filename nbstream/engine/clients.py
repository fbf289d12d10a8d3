"""The openai SDK's async clients: one per event loop and server, the SDK imported on first use."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

from ..settings import Settings

if TYPE_CHECKING:
    import openai as openai  # re-exported: the engine's modules share the deferred import
else:

    class _Deferred:
        """A module imported on first use."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

    # `%load_ext nbstream` should not pay for importing the SDK (about 0.3 s): `warm_up` does.
    openai = _Deferred("openai")


async def warm_up() -> None:
    """Import the SDK and the parts of it a turn touches; `%load_ext` runs this in the
    background on the loop thread, so that the first turn does not wait for them."""
    # The SDK imports its resources and HTTP transport on first use, not with the package.
    client = openai.AsyncOpenAI(api_key="warm-up", base_url="http://127.0.0.1:9/v1")
    _ = client.chat.completions.with_streaming_response
    _ = getattr(client, "responses", None)  # openai < 1.66 has no Responses API
    await client.close()


async def list_models(settings: Settings) -> list[str]:
    """The model ids the server offers, or [] when `/models` does not answer."""
    try:
        client = await client_for(settings)
        page = await client.with_options(timeout=5.0, max_retries=0).models.list()
        return sorted(m.id for m in page.data)
    except (openai.OpenAIError, AttributeError, ValueError):
        return []


class ClientPool:
    """The SDK's async clients: one per event loop, server and key, shared by every request.

    Only nbstream's loop thread touches it (clients bind to the loop they were made on).
    Timeouts are applied with `with_options`, which shares the connection pool, so a cell's
    `--timeout` never makes a new connection; each timed copy is kept too, since a fresh copy
    per request would also rebuild the SDK's resources and look up the platform off the loop
    again. `aclose()` closes them all.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._timed: dict[tuple[Any, ...], Any] = {}  # copies of `_clients` with a timeout

    def get(self, settings: Settings) -> Any:
        """A client for these settings, with their timeouts."""
        loop = asyncio.get_running_loop()
        key = (id(loop), settings.base_url, settings.api_key, settings.azure_endpoint,
               settings.api_version)  # fmt: skip
        if key not in self._clients:
            self._clients[key] = _new_client(settings)
        timed = (*key, settings.idle_timeout, settings.connect_timeout)
        if timed not in self._timed:
            timeout = openai.Timeout(settings.idle_timeout, connect=settings.connect_timeout)
            self._timed[timed] = self._clients[key].with_options(timeout=timeout)
        return self._timed[timed]

    async def aclose(self) -> None:
        """Close every client's connections (`%unload_ext nbstream`)."""
        clients, self._clients, self._timed = list(self._clients.values()), {}, {}
        for client in clients:
            await client.close()


#: The process's clients; the extension closes them when it is unloaded.
POOL = ClientPool()


async def client_for(settings: Settings) -> Any:
    """The SDK's async client for these settings, from the process's pool."""
    return POOL.get(settings)


def _new_client(settings: Settings) -> Any:
    if settings.azure_endpoint:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=settings.azure_endpoint,
            api_version=settings.api_version,
            api_key=settings.api_key,
            max_retries=0,
        )
    # Local servers (Ollama, vLLM, llama.cpp) take any key, but the SDK insists on one.
    return openai.AsyncOpenAI(
        api_key=settings.api_key or "no-key", base_url=settings.base_url, max_retries=0
    )
