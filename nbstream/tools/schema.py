"""Python types → JSON Schema, in the form OpenAI's strict mode requires wherever the type allows.

One builder serves tool parameters and typed answers. Strict mode (structured outputs) wants every
object closed (`additionalProperties: false`) with every property required, optional values as a
union with null, and a type on every node; so defaults are said in the description, never left
out of `required`. Types strict mode cannot express (`dict[str, X]`, `Any`, fixed tuples) still get
a schema; `is_strict` then says False and callers send `strict: false`.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import pathlib
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import typing_extensions

from ..errors import ToolError

Schema = dict[str, Any]

_SCALARS: dict[type, Schema] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},  # before int: bool is an int subclass
    int: {"type": "integer"},
    float: {"type": "number"},
    decimal.Decimal: {"type": "number"},
    type(None): {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    pathlib.Path: {"type": "string"},
}
_ARRAYS = (list, set, frozenset, tuple, Sequence, typing.Sequence, typing.List, typing.Set)  # noqa: UP006


def json_schema_for(tp: Any) -> Schema:
    """The JSON schema of the type `tp`, inlined; raises ToolError for a type JSON cannot carry."""
    return _schema(tp, ())


def is_strict(schema: Schema) -> bool:
    """Whether `schema` meets strict mode: objects closed and fully required, every node typed."""
    if not schema or "prefixItems" in schema:
        return False
    if schema.get("type") == "object":
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or set(schema["required"]) != set(props):
            return False
    kids = [*schema.get("properties", {}).values(), *schema.get("anyOf", ())]
    if isinstance(schema.get("items"), dict):
        kids.append(schema["items"])
    return all(is_strict(kid) for kid in kids)


def describe_type(tp: Any) -> str:
    """A short name for `tp` in error messages: `DataFrame`, `list[int]`."""
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _schema(tp: Any, seen: tuple[Any, ...]) -> Schema:
    tp = type(None) if tp is None else tp
    if tp in seen:
        raise ToolError(f"{describe_type(tp)} refers to itself, which a tool schema cannot say")
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _annotated(tp, seen)
    if tp is Any or tp is object:
        return {}
    if isinstance(tp, type) and tp in _SCALARS:
        return dict(_SCALARS[tp])
    if origin is typing.Literal:
        return _enum(list(typing.get_args(tp)))
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(tp), seen)
    if origin is not None:
        return _generic(tp, origin, seen)
    if isinstance(tp, type):
        return _class(tp, (*seen, tp))
    raise ToolError(f"{describe_type(tp)} is not a type a tool schema can describe")


def _annotated(tp: Any, seen: tuple[Any, ...]) -> Schema:
    inner, *extras = typing.get_args(tp)
    schema = _schema(inner, seen)
    for extra in extras:
        text = extra if isinstance(extra, str) else getattr(extra, "description", None)
        if isinstance(text, str) and text:
            schema["description"] = text
    return schema


def _enum(values: list[Any]) -> Schema:
    kinds = {_json_type(v) for v in values}
    schema: Schema = {"type": kinds.pop()} if len(kinds) == 1 else {}
    schema["enum"] = values
    return schema if schema.get("type") else {"anyOf": [_enum([v]) for v in values]}


def _json_type(value: Any) -> str:
    for kind, schema in _SCALARS.items():
        if type(value) is kind:
            return str(schema["type"])
    raise ToolError(f"the choice {value!r} is not a JSON value")


def _union(members: tuple[Any, ...], seen: tuple[Any, ...]) -> Schema:
    return {"anyOf": [_schema(member, seen) for member in members]}


def _generic(tp: Any, origin: Any, seen: tuple[Any, ...]) -> Schema:
    args = typing.get_args(tp)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return {"type": "array", "prefixItems": [_schema(a, seen) for a in args]}
    if origin in _ARRAYS or (isinstance(origin, type) and issubclass(origin, (list, set, tuple))):
        return {"type": "array", "items": _schema(args[0] if args else Any, seen)}
    if isinstance(origin, type) and issubclass(origin, Mapping):
        value = _schema(args[1] if len(args) == 2 else Any, seen)
        return {"type": "object", "additionalProperties": value}
    raise ToolError(f"{describe_type(tp)} is not a type a tool schema can describe")


def _class(cls: type, seen: tuple[Any, ...]) -> Schema:
    if issubclass(cls, enum.Enum):
        return _enum([member.value for member in cls])
    if typing_extensions.is_typeddict(cls):  # typing's own misses typing_extensions' kind
        return _typeddict(cls, seen)
    if dataclasses.is_dataclass(cls):
        return _dataclass(cls, seen)
    if hasattr(cls, "model_fields"):  # a pydantic model
        return _pydantic(cls, seen)
    if issubclass(cls, (list, tuple, set, frozenset)):
        return {"type": "array", "items": {}}
    if issubclass(cls, dict):
        return {"type": "object", "additionalProperties": {}}
    raise ToolError(f"{describe_type(cls)} is not a type a tool schema can describe")


def closed_object(properties: dict[str, Schema], description: str | None = None) -> Schema:
    """An object schema in strict form: closed, every property required (in the given order)."""
    schema: Schema = {"type": "object", "properties": properties}
    schema |= {"required": list(properties), "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def with_default(schema: Schema, default: Any) -> Schema:
    """`schema` whose description says its default (strict mode has no optional properties)."""
    note = f"Default: {default!r}."
    text = schema.get("description")
    return schema | {"description": f"{text} {note}" if text else note}


def _typeddict(cls: type, seen: tuple[Any, ...]) -> Schema:
    hints = typing.get_type_hints(cls, include_extras=True)
    props = {name: _field(name, hint, cls, seen) for name, hint in hints.items()}
    return closed_object(props, _doc(cls))


def _dataclass(cls: type, seen: tuple[Any, ...]) -> Schema:
    hints = typing.get_type_hints(cls, include_extras=True)
    props: dict[str, Schema] = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        props[field.name] = _field(field.name, hints[field.name], cls, seen)
        if field.default is not dataclasses.MISSING:
            props[field.name] = with_default(props[field.name], field.default)
    return closed_object(props, _doc(cls))


def _pydantic(cls: Any, seen: tuple[Any, ...]) -> Schema:
    props: dict[str, Schema] = {}
    for name, info in cls.model_fields.items():
        key = info.alias or name
        props[key] = _field(name, info.rebuild_annotation(), cls, seen)
        if info.description:
            props[key]["description"] = info.description
        if not info.is_required() and info.default_factory is None:
            props[key] = with_default(props[key], info.default)
    return closed_object(props, _doc(cls))


def _field(name: str, hint: Any, owner: type, seen: tuple[Any, ...]) -> Schema:
    hint = _strip_required(hint)
    try:
        return _schema(hint, seen)
    except ToolError as err:
        raise ToolError(f"{owner.__name__}.{name}: {err.message}", err.hint) from None


def _strip_required(hint: Any) -> Any:
    # NotRequired/Required/ReadOnly wrap a TypedDict key; strict mode requires every key anyway.
    wrappers = (
        typing_extensions.Required,
        typing_extensions.NotRequired,
        typing_extensions.ReadOnly,
    )
    if typing_extensions.get_origin(hint) in wrappers:
        return typing.get_args(hint)[0]
    return hint


def _doc(cls: type) -> str | None:
    doc = cls.__doc__
    generated = doc is None or doc.startswith(f"{cls.__name__}(")  # dataclass's own signature
    return None if generated or not doc else doc.strip().split("\n\n")[0].strip()
