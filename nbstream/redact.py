"""API keys never shown, never sent: redaction of errors, and the guard on request bodies.

A key is any configured one: the key a request authenticates with (OpenAI's, Azure's, a
proxy's given as `api_key`), and OPENAI_API_KEY / AZURE_OPENAI_API_KEY from the environment,
used or not. Servers echo keys in 401 bodies, and the SDK keeps those bodies, its response
and its request (with the Authorization header) on the exception, which IPython's `%tb` prints
along the whole `__cause__` / `__context__` chain: `scrub` rewrites all of it in place.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import KeyInRequestError
from .settings import mask

if TYPE_CHECKING:
    from .engine.request import ChatRequest

ENV_KEYS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")
#: Shorter values are placeholders ("EMPTY", "none" for vLLM or Ollama), not secrets; matching
#: them would refuse every prompt that happens to say "none".
MIN_KEY = 8


def configured_keys(api_key: str | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every key worth hiding: `api_key` and the environment's, longest first."""
    env = os.environ if environ is None else environ
    found = {k for k in (api_key, *(env.get(name) for name in ENV_KEYS)) if k}
    return sorted((k for k in found if len(k) >= MIN_KEY), key=len, reverse=True)


def redact(text: str, keys: Iterable[str]) -> str:
    """`text` with every occurrence of every key replaced by its mask."""
    for key in keys:
        if key in text:
            text = text.replace(key, mask(key))
    return text


def scrub(err: BaseException, keys: list[str]) -> BaseException:
    """Redact `err` and every exception chained to it, in place; returns `err`."""
    if not keys:
        return err
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        _scrub_one(current, keys)
        todo += [current.__cause__, current.__context__]
        todo += getattr(current, "exceptions", ())  # an ExceptionGroup's members
    return err


def _scrub_one(err: BaseException, keys: list[str]) -> None:
    err.args = tuple(_clean(arg, keys) for arg in err.args)
    stored = vars(err)  # `__notes__` too: add_note keeps them here
    for name, value in list(stored.items()):
        if name in ("response", "request"):
            _scrub_http(value, keys)
        else:
            # Into the instance's dict, not through setattr: a read-only property over it
            # would refuse the write and leave the key in place.
            stored[name] = _clean(value, keys)


def _clean(value: Any, keys: list[str]) -> Any:
    """Strings, and the dicts / lists / tuples of an error body, with the keys redacted."""
    if isinstance(value, str):
        return redact(value, keys)
    if isinstance(value, bytes):
        return redact(value.decode(errors="replace"), keys).encode()
    if isinstance(value, dict):
        return {_clean(k, keys): _clean(v, keys) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clean(v, keys) for v in value)
    return value


def _scrub_http(message: Any, keys: list[str]) -> None:
    """An httpx(2) response or request: its headers and its (already read) body."""
    if message is None:
        return
    headers: Any = getattr(message, "headers", {})
    for name, value in list(headers.items()):
        if any(key in value for key in keys):
            headers[name] = redact(value, keys).replace("…", "...")  # headers are ASCII
    for name in ("_content", "_text"):  # the body, and the text decoded from it, if read
        if isinstance(getattr(message, name, None), (bytes, str)):
            setattr(message, name, _clean(getattr(message, name), keys))
    _scrub_http(getattr(message, "_request", None), keys)


def check_body(body: Mapping[str, Any], keys: list[str]) -> None:
    """Refuse a request body that holds a key anywhere (KeyInRequestError naming where).

    One function over the whole body, so every part that becomes request text (prompt,
    system prompt, history, parameters, and later tool results and attachments) passes it.
    """
    path = _find(body, keys, ())
    if path is not None:
        raise KeyInRequestError(
            f"not sent: {where(path, body)} holds an API key",
            "remove the key from it (the conversation is unchanged)",
        )


def _find(value: Any, keys: list[str], path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    if isinstance(value, (str, bytes)):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        return path if any(key in text for key in keys) else None
    if isinstance(value, Mapping):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for name, item in items:
        found = _find(name, keys, (*path, name)) or _find(item, keys, (*path, name))
        if found is not None:
            return found
    return None


def where(path: tuple[Any, ...], body: Mapping[str, Any]) -> str:
    """Words for a place in a chat request body: 'the prompt', 'parameter nbstream', ..."""
    if path[:1] != ("messages",) or len(path) < 2:
        return f"the request parameter {path[0]!r}"
    messages, index = body["messages"], path[1]
    role = messages[index].get("role") if isinstance(messages[index], Mapping) else None
    if role == "system":
        return "the system prompt"
    if index == len(messages) - 1:
        return "the prompt"
    return f"the history (message {index + 1}, {role})"


def check_request(request: ChatRequest, keys: list[str]) -> None:
    """`check_body` over what a chat request sends: its model, messages and parameters."""
    check_body({"model": request.model, "messages": request.messages, **request.params}, keys)


#: Loggers that may see a request's headers or a server's error body.
LOGGERS = ("openai", "httpx", "httpx2", "httpcore", "nbstream")


class KeyFilter(logging.Filter):
    """Masks configured keys in every record of the SDK's and HTTP libraries' loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with the keys masked; never drops a record."""
        keys = configured_keys(None)
        message = record.getMessage()
        if any(key in message for key in keys):
            record.msg, record.args = redact(message, keys), None
        return True


def guard_logs(key_filter: KeyFilter, *, on: bool) -> None:
    """Put `key_filter` on (or take it off) the loggers that may see a key."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if on:
            logger.addFilter(key_filter)
        else:
            logger.removeFilter(key_filter)


#: The one filter: adding it twice to a logger is a no-op, so every session may ask for it.
KEY_FILTER = KeyFilter()
