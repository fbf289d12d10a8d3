"""Structured replies: a schema request's way down to json_object and instructions, and the
JSON re-laid as it streams."""

from __future__ import annotations

import asyncio
import json

from nbstream.engine.request import ChatRequest
from nbstream.engine.structured import JsonIndenter, SchemaFallback, rejects_format, wants_schema
from nbstream.store.apis import ServerMemory

SCHEMA = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
HELLO = [{"role": "user", "content": "Hi"}]


def test_a_refused_schema_falls_back_one_level_at_a_time_and_is_remembered(tmp_path) -> None:
    request = ChatRequest(HELLO, "m", {"response_format": SCHEMA, "temperature": 0})
    key = ("http://test-structured/v1", "m")
    memory = ServerMemory(tmp_path / "apis.sqlite")
    fallback = SchemaFallback(request, key, memory)
    assert wants_schema(request) and asyncio.run(fallback.start()) is request
    said = asyncio.run(fallback.falls_back(400, "Invalid response_format: json_schema is not"))
    assert said == "the server refused json_schema: using json_object"
    second = fallback.request()
    assert second.params == {"temperature": 0, "response_format": {"type": "json_object"}}
    assert (
        second.messages[0]["role"] == "system"
        and '{"type": "object"}' in second.messages[0]["content"]
    )
    assert asyncio.run(fallback.falls_back(422, "structured output unsupported")) == (
        "the server refused json_object: using instructions"
    )
    assert "response_format" not in fallback.request().params
    assert asyncio.run(fallback.falls_back(400, "response_format")) is None  # nowhere left
    later = SchemaFallback(request, key, ServerMemory(tmp_path / "apis.sqlite"))
    assert "response_format" not in asyncio.run(later.start()).params  # starts there
    assert later.level == 2


def test_other_errors_and_requests_without_a_schema_do_not_fall_back() -> None:
    assert not rejects_format(500, "response_format") and not rejects_format(400, "bad model")
    plain = SchemaFallback(ChatRequest(HELLO, "m"), ("http://test-structured-2/v1", "m"))
    assert asyncio.run(plain.falls_back(400, "response_format")) is None and plain.level == 0


def test_json_is_relaid_as_json_dumps_would_at_any_split() -> None:
    value = {"a": [1, {"b": "x, y: {z}"}], "c": {}, "d": "\\"}
    text = json.dumps(value, separators=(",", ":")) + " trailing"
    for cut in range(len(text) + 1):
        indenter = JsonIndenter()
        laid = indenter.feed(text[:cut]) + indenter.feed(text[cut:])
        assert laid == json.dumps(value, indent=2) + " trailing", cut
    prose = JsonIndenter()
    assert prose.feed("  Sure: {not json}") == "  Sure: {not json}"
