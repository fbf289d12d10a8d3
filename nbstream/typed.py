"""Typed answers: `schema=Model` asks for JSON that fits, and returns it validated.

A schema is a pydantic model, a dataclass, a TypedDict or a JSON-schema dict. Types become JSON
Schema through the one builder tools use (`tools.schema`), in strict form where the type allows;
the reply is validated with pydantic (types) or jsonschema (dicts) into `result.parsed`. Which
response format a server accepts is the engine's business (`engine.structured`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .engine.result import ChatResult
from .errors import SchemaError
from .tools.schema import is_strict, json_schema_for

_FENCE = re.compile(r"^```[\w-]*\n(.*?)\n?```$", re.S)
HINT = "the reply is in err.result; a schema with descriptions, or a stronger model, helps"


@dataclass(frozen=True)
class Shape:
    """What a typed answer must look like: its name, JSON schema, and how to validate it."""

    name: str
    schema: dict[str, Any]
    check: Callable[[Any], Any]  # the decoded JSON -> the object; raises ValidationError

    def response_format(self) -> dict[str, Any]:
        """The Chat Completions `response_format` asking for it."""
        spec = {"name": self.name, "schema": self.schema, "strict": is_strict(self.schema)}
        return {"type": "json_schema", "json_schema": spec}

    def parse(self, text: str) -> Any:
        """The validated object in a reply's text; SchemaError in one line otherwise."""
        body = text.strip()
        fenced = _FENCE.match(body)
        try:
            value = json.loads(fenced.group(1) if fenced else body)
        except json.JSONDecodeError as err:
            raise SchemaError(
                f"the reply is not JSON: {err.msg} at line {err.lineno} column {err.colno}", HINT
            ) from None
        return self.check(value)


def shape_of(spec: Any) -> Shape | None:
    """The Shape of a schema given as a type or a JSON-schema dict (None: no schema)."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        name = str(spec.get("title") or "answer")
        return Shape(_name(name), spec, _json_schema_check(spec, name))
    # pydantic on first use: %load_ext stays free of it (tests/test_perf_load.py).
    from pydantic import PydanticUserError, TypeAdapter, ValidationError

    name = getattr(spec, "__name__", "answer")
    schema = json_schema_for(spec)
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(spec)
    except PydanticUserError:  # typing.TypedDict before Python 3.12: checked by its schema
        return Shape(_name(name), schema, _json_schema_check(schema, name))

    def check(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the reply"
            more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
            raise SchemaError(f"the reply does not match {name}: {where}: {first['msg']}{more}",
                              HINT) from None  # fmt: skip

    return Shape(_name(name), schema, check)


def _json_schema_check(schema: dict[str, Any], name: str) -> Callable[[Any], Any]:
    from jsonschema import validators

    validator = validators.validator_for(schema)(schema)

    def check(value: Any) -> Any:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.absolute_path) or "the reply"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise SchemaError(f"the reply does not match {name}: {where}: {first.message}{more}",
                              HINT)  # fmt: skip
        return value

    return check


def _name(text: str) -> str:
    # OpenAI's rule for json_schema.name: letters, digits, _ and -, at most 64.
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64] or "answer"


def typed(result: ChatResult, shape: Shape | None, *, raising: bool = True) -> ChatResult:
    """`result` with `parsed` set; a reply that does not fit raises SchemaError (or, with
    `raising=False`, comes back with the one-line message in `error`)."""
    if shape is None or not result.text:
        return result
    try:
        return replace(result, parsed=shape.parse(result.text))
    except SchemaError as err:
        if raising:
            err.result = result
            raise
        return replace(result, error=err.message)
