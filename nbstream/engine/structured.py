"""Structured output: a JSON reply shown pretty as it streams, and servers that refuse a schema.

A request asking for `response_format: json_schema` falls back when the server rejects it: to
`json_object` with the schema in a system message, then to that message alone (the caller
validates the reply either way). How far a server had to fall back is remembered per base URL
and model in the `ApiMemory` the caller hands in (the session's lasts across kernel restarts),
so later requests go straight to what works.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..settings import OPENAI_URL, Settings

if TYPE_CHECKING:
    from .request import ApiMemory, ChatRequest

#: The response formats tried in turn; the last is none at all (the instructions alone).
LEVELS = ("json_schema", "json_object", "instructions")


def memory_key(settings: Settings, model: str) -> tuple[str, str]:
    """What a server's quirks are remembered under: its base URL and the model."""
    return settings.azure_endpoint or settings.base_url or OPENAI_URL, model


def wants_schema(request: ChatRequest) -> bool:
    """True when the request asks for a reply that follows a JSON schema."""
    shape = request.params.get("response_format")
    return isinstance(shape, dict) and shape.get("type") == "json_schema"


def rejects_format(status: int, body: str) -> bool:
    """The server refused the response format (a 400 or 422 naming it)."""
    words = ("response_format", "json_schema", "json_object", "structured output")
    return status in (400, 422) and any(word in body.lower() for word in words)


def fall_back(request: ChatRequest, original: dict[str, Any], level: int) -> ChatRequest:
    """`request` at fallback `level` (see LEVELS) for the json_schema `original` it asked for."""
    if level == 0:
        return request
    schema = original["json_schema"]
    note = (
        "Answer with one JSON value only, no prose and no code fence, that validates against "
        f"this JSON schema:\n{json.dumps(schema.get('schema', {}), ensure_ascii=False)}"
    )
    params = {k: v for k, v in request.params.items() if k != "response_format"}
    if LEVELS[level] == "json_object":
        params["response_format"] = {"type": "json_object"}
    messages = [{"role": "system", "content": note}, *request.messages]
    return replace(request, params=params, messages=messages)


class JsonIndenter:
    """Re-indents a JSON reply as it streams, as `json.dumps(value, indent=2)` would lay it out.

    Only a reply that starts with `{` or `[` is touched; anything else, and anything after the
    first whole value, passes through as it came.
    """

    def __init__(self) -> None:
        self._mode = "undecided"  # undecided, json, or as-is
        self._held = ""  # leading whitespace, until the first character decides the mode
        self._depth = 0
        self._string = self._escape = self._opened = False

    def feed(self, text: str) -> str:
        """The re-indented form of the next piece of the reply."""
        out: list[str] = []
        for char in text:
            if self._mode == "as-is":
                out.append(char)
            elif self._mode == "undecided" and char.isspace():
                self._held += char
            elif self._mode == "undecided":
                self._mode = "json" if char in "{[" else "as-is"
                out.append(self._structural(char) if self._mode == "json" else self._held + char)
            else:
                out.append(self._inside(char) if self._string else self._structural(char))
        return "".join(out)

    def _inside(self, char: str) -> str:
        if self._escape:
            self._escape = False
        elif char == "\\":
            self._escape = True
        elif char == '"':
            self._string = False
        return char

    def _structural(self, char: str) -> str:
        if char.isspace():
            return ""
        opened, self._opened = self._opened, False
        if char in "}]":
            self._depth -= 1
            if self._depth == 0:
                self._mode = "as-is"  # the whole value has come: the rest is not re-laid
            return char if opened else "\n" + "  " * self._depth + char
        lead = "\n" + "  " * self._depth if opened else ""
        if char in "{[":
            self._depth += 1
            self._opened = True
        elif char == ",":
            return ",\n" + "  " * self._depth
        elif char == ":":
            return ": "
        elif char == '"':
            self._string = True
        return lead + char


class SchemaFallback:
    """One request's way down LEVELS, starting where `memory` left its server and model."""

    def __init__(
        self, request: ChatRequest, key: tuple[str, str], memory: ApiMemory | None = None
    ) -> None:
        self._original, self._key, self._memory = request, key, memory
        shape = request.params.get("response_format")
        self._format = shape if wants_schema(request) else None
        self.level = 0

    async def start(self) -> ChatRequest:
        """The request at the level remembered for its server and model (read off the loop)."""
        if self._format is not None and self._memory is not None:
            self.level = await asyncio.to_thread(self._memory.schema_level, *self._key)
        return self.request()

    def request(self) -> ChatRequest:
        """The request at the current level."""
        if self._format is None:
            return self._original
        return fall_back(self._original, self._format, self.level)

    async def falls_back(self, status: int, body: str) -> str | None:
        """After a refusal: the notice of the next level taken (remembered), or None when
        there is none."""
        if self._format is None or self.level + 1 >= len(LEVELS):
            return None
        if not rejects_format(status, body):
            return None
        self.level += 1
        if self._memory is not None:
            remember = self._memory.remember_schema_level
            await asyncio.to_thread(remember, *self._key, self.level)
        return f"the server refused {LEVELS[self.level - 1]}: using {LEVELS[self.level]}"
