"""A Python function as a tool: its name, description and parameters schema, and how to call it.

The schema comes from the signature and type hints (through `schema.json_schema_for`) and from the
docstring's summary and parameter descriptions (Google, NumPy or reST, read by docstring_parser).
A parameter without a type hint takes its default's type; one that has neither, or whose type JSON
cannot carry, is a one-line `ToolError` naming it.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ToolError
from .schema import Schema, closed_object, is_strict, json_schema_for, with_default

#: The attribute `@nbstream.tool` sets on a function: its options.
MARK = "__nbstream_tool__"
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True)
class ToolOptions:
    """What `@nbstream.tool(...)` said about a function."""

    safe: bool = False  # read-only: runs without asking for approval
    name: str | None = None
    strict: bool | None = None  # None: strict when the schema allows it


@dataclass(frozen=True)
class Tool:
    """A described function: what the model is told, and what is called."""

    name: str
    description: str
    parameters: Schema
    strict: bool  # whether `strict: true` is sent (only when the schema meets strict mode)
    safe: bool
    function: Callable[..., Any] = field(compare=False, repr=False)

    def definition(self) -> dict[str, Any]:
        """The Chat Completions `tools` entry."""
        described = {"name": self.name, "description": self.description}
        return {"type": "function", "function": {**described, "parameters": self.parameters,
                                                  "strict": self.strict}}  # fmt: skip

    def call(self, arguments: dict[str, Any]) -> Any:
        """Call the function with the model's arguments, converted to the hinted types."""
        return self.function(**_converted(self.function, arguments))


def tool(
    function: Callable[..., Any] | None = None,
    *,
    safe: bool = False,
    name: str | None = None,
    strict: bool | None = None,
) -> Any:
    """`@nbstream.tool(safe=True)`: mark a function as a tool (safe: runs without asking)."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, MARK, ToolOptions(safe=safe, name=name, strict=strict))
        describe(fn)  # a function that cannot be described fails where it is defined
        return fn

    return mark(function) if function is not None else mark


def describe(function: Callable[..., Any]) -> Tool:
    """The tool for `function`; raises ToolError naming what cannot be described."""
    options: ToolOptions = getattr(function, MARK, None) or ToolOptions()
    name = options.name or getattr(function, "__name__", "")
    if not name or not set(name) <= _NAME_OK or len(name) > 64:
        raise ToolError(f"{name!r} cannot be a tool name", "use letters, digits, _ or -")
    import docstring_parser  # on first use: `%load_ext` imports nbstream.tools, rarely used

    doc = docstring_parser.parse(inspect.getdoc(function) or "")
    notes = {p.arg_name: p.description for p in doc.params if p.description}
    properties = {
        param.name: _parameter(name, param, hints_of(function, name), notes.get(param.name))
        for param in inspect.signature(function).parameters.values()
    }
    parameters = closed_object(properties)
    strict = is_strict(parameters) if options.strict is None else options.strict
    summary = " ".join(filter(None, (doc.short_description, doc.long_description)))
    return Tool(name, summary or name, parameters, strict, options.safe, function)


def toolbox(functions: Iterable[Any]) -> list[Tool]:
    """Tools for functions (or lists of functions), each name once; raises ToolError."""
    tools: dict[str, Tool] = {}
    for item in functions:
        for fn in item if isinstance(item, (list, tuple)) else [item]:
            if not callable(fn):
                raise ToolError(f"{fn!r} is not a function", "pass functions: tools=[fn, ...]")
            described = describe(fn)
            if described.name in tools and tools[described.name].function is not fn:
                raise ToolError(f"two tools are named {described.name!r}", "rename one")
            tools[described.name] = described
    return list(tools.values())


def hints_of(function: Callable[..., Any], name: str) -> dict[str, Any]:
    """The function's resolved type hints; a hint that cannot be resolved is a ToolError."""
    try:
        return typing.get_type_hints(function, include_extras=True)
    except (NameError, TypeError) as err:
        raise ToolError(f"tool {name}: a type hint cannot be resolved: {err}") from None


def _parameter(
    tool_name: str, param: inspect.Parameter, hints: dict[str, Any], note: str | None
) -> Schema:
    where = f"tool {tool_name}: parameter {param.name!r}"
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        raise ToolError(f"{where} takes any number of values", "name each parameter")
    hint = hints.get(param.name, inspect.Parameter.empty)
    if hint is inspect.Parameter.empty:
        if param.default is inspect.Parameter.empty or param.default is None:
            raise ToolError(f"{where} has no type hint", f"annotate it: {param.name}: str")
        hint = type(param.default)
    try:
        schema = json_schema_for(hint)
    except ToolError as err:
        raise ToolError(f"{where}: {err.message}", "give it a JSON type (str, int, ...)") from None
    if note:
        schema["description"] = note
    if param.default is not inspect.Parameter.empty:
        schema = with_default(schema, param.default)
    return schema


def _converted(function: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the hinted types (an Enum member, a dataclass), where pydantic can."""
    import pydantic  # on first use: `%load_ext` must stay free of it (the warm-up imports it)

    hints = typing.get_type_hints(function, include_extras=True)
    converted = dict(arguments)
    for key, value in arguments.items():
        hint = hints.get(key)
        if hint is None:
            continue
        try:
            converted[key] = pydantic.TypeAdapter(hint).validate_python(value)
        except pydantic.PydanticUserError:
            continue  # typing.TypedDict before 3.12: the dict is what the function gets anyway
    return converted


def parse_arguments(text: str) -> dict[str, Any]:
    """The model's arguments text as a dict; raises ValueError saying what is wrong with it."""
    parsed = json.loads(text or "{}")
    if not isinstance(parsed, dict):
        raise ValueError(f"arguments must be a JSON object, not {type(parsed).__name__}")
    return parsed
