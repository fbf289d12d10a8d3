"""Python types → JSON Schema: one table of types and the schema each must give, strict or not."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Annotated, Any, Literal, Optional, Union

import pydantic
import pytest
from typing_extensions import NotRequired, TypedDict

from nbstream.errors import ToolError
from nbstream.tools.schema import is_strict, json_schema_for


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(TypedDict):
    """A point on the plane."""

    x: float
    y: NotRequired[float]


@dataclasses.dataclass
class Box:
    """A labelled box."""

    label: str
    size: int = 3
    tags: list[str] = dataclasses.field(default_factory=list)


class Person(pydantic.BaseModel):
    """Someone."""

    name: str = pydantic.Field(description="Full name")
    age: int | None = None


STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
NULL = {"type": "null"}

TABLE: list[tuple[Any, dict[str, Any], bool]] = [
    (str, STR, True),
    (int, INT, True),
    (float, NUM, True),
    (bool, {"type": "boolean"}, True),
    (None, NULL, True),
    (datetime.date, {"type": "string", "format": "date"}, True),
    (Literal["c", "f"], {"type": "string", "enum": ["c", "f"]}, True),
    (
        Literal[1, "a"],
        {"anyOf": [{"type": "integer", "enum": [1]}, {"type": "string", "enum": ["a"]}]},
        True,
    ),
    (Colour, {"type": "string", "enum": ["red", "blue"]}, True),
    (Level, {"type": "integer", "enum": [1, 2]}, True),
    (list[int], {"type": "array", "items": INT}, True),
    (tuple[str, ...], {"type": "array", "items": STR}, True),
    (set[str], {"type": "array", "items": STR}, True),
    (Optional[int], {"anyOf": [INT, NULL]}, True),  # noqa: UP045
    (int | None, {"anyOf": [INT, NULL]}, True),
    (Union[int, str], {"anyOf": [INT, STR]}, True),  # noqa: UP007
    (Annotated[int, "How many"], {"type": "integer", "description": "How many"}, True),
    (
        Annotated[str, pydantic.Field(description="A name")],
        {"type": "string", "description": "A name"},
        True,
    ),
    (list[Colour], {"type": "array", "items": {"type": "string", "enum": ["red", "blue"]}}, True),
    (
        Point,
        {
            "type": "object",
            "properties": {"x": NUM, "y": NUM},
            "required": ["x", "y"],
            "additionalProperties": False,
            "description": "A point on the plane.",
        },
        True,
    ),
    (
        Box,
        {
            "type": "object",
            "properties": {
                "label": STR,
                "size": {"type": "integer", "description": "Default: 3."},
                "tags": {"type": "array", "items": STR},
            },
            "required": ["label", "size", "tags"],
            "additionalProperties": False,
            "description": "A labelled box.",
        },
        True,
    ),
    (
        Person,
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Full name"},
                "age": {"anyOf": [INT, NULL], "description": "Default: None."},
            },
            "required": ["name", "age"],
            "additionalProperties": False,
            "description": "Someone.",
        },
        True,
    ),
    (dict[str, int], {"type": "object", "additionalProperties": INT}, False),
    (Any, {}, False),
    (list[Any], {"type": "array", "items": {}}, False),
    (tuple[int, str], {"type": "array", "prefixItems": [INT, STR]}, False),
    (
        Optional[dict[str, str]],  # noqa: UP045
        {"anyOf": [{"type": "object", "additionalProperties": STR}, NULL]},
        False,
    ),
]


@pytest.mark.parametrize(("tp", "expected", "strict"), TABLE, ids=[str(row[0]) for row in TABLE])
def test_each_type_has_its_schema_and_strictness(
    tp: Any, expected: dict[str, Any], strict: bool
) -> None:
    schema = json_schema_for(tp)
    assert schema == expected
    assert is_strict(schema) is strict


def test_typing_typeddict_works_on_every_python() -> None:
    # pydantic refuses typing.TypedDict before Python 3.12; notebooks import it from typing.
    from typing import TypedDict as PlainTypedDict

    class Row(PlainTypedDict):
        id: int

    assert json_schema_for(list[Row])["items"]["properties"] == {"id": INT}


def test_nested_object_inside_a_list_is_closed() -> None:
    schema = json_schema_for(list[Box])
    assert schema["items"]["additionalProperties"] is False
    assert is_strict(schema)


class Opaque:
    pass


@dataclasses.dataclass
class Holder:
    thing: Opaque


class Tree(pydantic.BaseModel):
    kids: list[Tree] = []


@pytest.mark.parametrize(
    ("tp", "says"),
    [
        (Opaque, "Opaque is not a type a tool schema can describe"),
        (Holder, "Holder.thing: Opaque is not a type"),
        (list[Opaque], "Opaque is not a type"),
        (Tree, "refers to itself"),
        (Literal[object()], "is not a JSON value"),
    ],
)
def test_a_type_json_cannot_carry_is_one_line_naming_it(tp: Any, says: str) -> None:
    with pytest.raises(ToolError) as caught:
        json_schema_for(tp)
    assert says in caught.value.message
    assert "\n" not in caught.value.message
