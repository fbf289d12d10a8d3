"""The offline server and context: images checked like OpenAI checks them, attachments
described, and schema requests answered with an instance generated from the schema."""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from collections.abc import Mapping
from typing import Any

from .requests import Refusal

#: What a request's note of a schema looks like when the server refused `response_format`.
_NOTE = re.compile(r"JSON schema:\n(\{.*\})\s*$", re.S)
_FORMATS = "['png', 'jpeg', 'gif', 'webp']"


def image_parts(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every image part in the request's messages (Chat Completions or Responses form)."""
    found = []
    for message in body.get("messages") or body.get("input") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") in ("image_url", "input_image"):
                found.append(part)
    return found


def check_images(body: Mapping[str, Any]) -> list[tuple[str, int, int, int]]:
    """(kind, bytes, width, height) of each inline image; a 400 like OpenAI's for a bad one."""
    seen = []
    for part in image_parts(body):
        url = part["image_url"] if part["type"] == "input_image" else part.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
        if not isinstance(url, str) or not url.startswith(("data:", "http://", "https://")):
            raise Refusal(400, "Invalid 'image_url': expected a URL or a data URL.",
                          code="invalid_image_url")  # fmt: skip
        if url.startswith("data:"):
            seen.append(_decoded(url))
    return seen


def _decoded(url: str) -> tuple[str, int, int, int]:
    header, _, data = url.partition(",")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Refusal(400, "Invalid image data.", code="invalid_image") from None
    size = dimensions(raw)
    if size is None or ";base64" not in header:
        raise Refusal(
            400,
            "You uploaded an unsupported image. Please make sure your image has of one the "
            f"following formats: {_FORMATS}.",
            code="invalid_image_format",
        )
    return (size[0], len(raw), *size[1:])


def dimensions(raw: bytes) -> tuple[str, int, int] | None:
    """(kind, width, height) read from a PNG, GIF, JPEG or WebP header; None for others."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n") and len(raw) >= 24:
        return ("png", *struct.unpack(">II", raw[16:24]))
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        return ("gif", *struct.unpack("<HH", raw[6:10]))
    if raw.startswith(b"RIFF") and raw[8:12] == b"WEBP":
        return _webp(raw)
    if raw.startswith(b"\xff\xd8"):
        return _jpeg(raw)
    return None


def _webp(raw: bytes) -> tuple[str, int, int] | None:
    chunk = raw[12:16]
    if chunk == b"VP8X" and len(raw) >= 30:
        return ("webp", 1 + int.from_bytes(raw[24:27], "little"),
                1 + int.from_bytes(raw[27:30], "little"))  # fmt: skip
    if chunk == b"VP8 " and len(raw) >= 30:
        width, height = struct.unpack("<HH", raw[26:30])
        return ("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(raw) >= 25:
        bits = int.from_bytes(raw[21:25], "little")
        return ("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    return None


def _jpeg(raw: bytes) -> tuple[str, int, int] | None:
    at = 2
    while at + 9 < len(raw) and raw[at] == 0xFF:
        marker, length = raw[at + 1], int.from_bytes(raw[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", raw[at + 5 : at + 9])
            return ("jpeg", width, height)
        at += 2 + length
    return None


def described(body: Mapping[str, Any]) -> str:
    """A sentence on what the request attached: images (kind, size, dimensions), image URLs."""
    images = check_images(body)
    urls = len(image_parts(body)) - len(images)
    if not images and not urls:
        return ""
    said = [f"{kind.upper()} {width}×{height} ({size:,} bytes)" for kind, size, width, height
            in images]  # fmt: skip
    said += [f"{urls} image URL{'s' * (urls != 1)} (not fetched offline)"] if urls else []
    count = len(images) + urls
    return f"It attached {count} image{'s' * (count != 1)}: {', '.join(said)}.\n\n"


def schema_in(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the request asks the reply to follow, if any: in `response_format`
    (or Responses' `text.format`), or in a system message that names it."""
    shape = body.get("response_format") or (body.get("text") or {}).get("format") or {}
    if shape.get("type") == "json_schema":
        spec = shape.get("json_schema", shape)
        return spec.get("schema") if isinstance(spec.get("schema"), dict) else {}
    notes = [m.get("content") for m in body.get("messages") or () if m.get("role") == "system"]
    notes.append(body.get("instructions"))
    for note in notes:
        found = _NOTE.search(note) if isinstance(note, str) else None
        if found:
            return dict(json.loads(found.group(1)))
    return None


def instance(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    """A value that validates against `schema` (the simplest one, not a clever one)."""
    root = root or schema
    if "$ref" in schema:
        target: Any = root
        for step in str(schema["$ref"]).lstrip("#/").split("/"):
            target = target[step]
        return instance(target, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        usable = [o for o in options if o.get("type") != "null"] or options
        return instance(usable[0], root)
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: instance(sub, root) for name, sub in props.items()}
    if kind == "array":
        return [instance(schema.get("items") or {}, root)] * max(1, schema.get("minItems", 1))
    return _scalar(kind, schema)


def _scalar(kind: Any, schema: Mapping[str, Any]) -> Any:
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    dated = {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "time": "12:00:00"}
    return dated.get(schema.get("format", ""), "example")


def refuse_json_schema(ask: Any) -> None:
    """`fault-no-json-schema`: a server that knows json_object but not json_schema."""
    shape = ask.body.get("response_format") or {}
    if shape.get("type") == "json_schema":
        raise Refusal(400, "response_format.type 'json_schema' is not supported by this server",
                      param="response_format")  # fmt: skip


def refuse_response_format(ask: Any) -> None:
    """`fault-no-response-format`: a server that refuses any response_format."""
    if "response_format" in ask.body:
        raise Refusal(400, "Unrecognized request argument supplied: response_format",
                      param="response_format")  # fmt: skip
