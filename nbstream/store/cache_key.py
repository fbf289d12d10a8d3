"""The response cache's key: what a reply is stored under, and strict mode's miss.

A reply is stored under the sha256 of canonical JSON (sorted keys, no whitespace, ASCII) of:

    v         the key format, 1
    host      the server: the host (and port, unless the scheme's default) of the base URL or
              Azure endpoint, lowercased; no scheme, user info or path. "offline-demo" for the
              built-in demo server, whose port changes with every kernel.
    model     the model name as requested
    messages  everything sent: system prompt, history, prompt
    params    the request parameters: temperature, max_tokens, top_p, seed, -p KEY=VALUE ...

Not in the key, because they do not change the answer: the API key (stored nowhere), timeouts,
retries, streaming or not, the thread's name, the cell.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import CacheError, CacheMissError
from ..settings import OPENAI_URL, Settings

KEY_VERSION = 1
OFFLINE_HOST = "offline-demo"


@dataclass(frozen=True)
class CacheRequest:
    """What a reply is stored under: see the module docstring."""

    host: str
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]

    def canonical(self) -> str:
        """The JSON that is hashed; raises CacheError for parameters that are not JSON."""
        record = {
            "v": KEY_VERSION,
            "host": self.host,
            "model": self.model,
            "messages": self.messages,
            "params": self.params,
        }
        try:
            return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise CacheError(
                f"cannot cache this request: {exc}",
                "cached requests need JSON parameters (text, numbers, lists, dicts)",
            ) from None

    @property
    def key(self) -> str:
        """The sha256 the reply is stored under."""
        return hashlib.sha256(self.canonical().encode("ascii")).hexdigest()

    @property
    def preview(self) -> str:
        """The prompt's first line, at most 60 characters."""
        prompts = [m.get("content") for m in self.messages if m.get("role") == "user"]
        return _first_line(str(prompts[-1] or "") if prompts else "")


def key_for(host: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """The cache key of a request."""
    return CacheRequest(host, model, messages, params).key


def cache_host(settings: Settings) -> str:
    """The `host` part of the key for these settings."""
    if settings.offline:
        return OFFLINE_HOST
    url = settings.azure_endpoint or settings.base_url or OPENAI_URL
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = (parts.hostname or url).lower()
    with contextlib.suppress(ValueError):
        port = parts.port
        if port is not None and port != {"http": 80, "https": 443}.get(parts.scheme):
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def miss_error(request: CacheRequest, cell_id: str | None, where: str) -> CacheMissError:
    """Strict mode's error for a request with no stored reply: names the cell and the prompt."""
    cell = f"cell {cell_id}, " if cell_id else ""
    return CacheMissError(
        f"strict cache: no recorded reply for {cell}prompt {request.preview!r} "
        f"in {where}; nothing was sent",
        "record it first (%chat cache record, or NBSTREAM_CACHE=record); a changed prompt, "
        "history, model, parameter or server is a new request",
    )


def _first_line(text: str, width: int = 60) -> str:
    line = text.strip().partition("\n")[0].strip()
    return line if len(line) <= width else line[: width - 1] + "…"
