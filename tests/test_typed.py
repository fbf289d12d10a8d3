"""Typed answers: a schema from a type or a dict, the reply validated into `parsed`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from nbstream.engine.result import ChatResult
from nbstream.errors import SchemaError
from nbstream.typed import shape_of, typed


@dataclass
class City:
    name: str
    people: int


def test_a_dataclass_asks_for_its_schema_and_parses_into_itself() -> None:
    shape = shape_of(City)
    assert shape is not None and shape.name == "City"
    spec = shape.response_format()
    assert spec["type"] == "json_schema" and spec["json_schema"]["name"] == "City"
    result = typed(ChatResult(text='```json\n{"name": "Oslo", "people": 700000}\n```'), shape)
    assert result.parsed == City("Oslo", 700000)


def test_a_reply_that_does_not_fit_says_where_in_one_line() -> None:
    shape = shape_of(City)
    with pytest.raises(SchemaError) as caught:
        typed(ChatResult(text='{"name": "Oslo"}'), shape)
    assert caught.value.message.startswith("the reply does not match City: people: ")
    assert caught.value.result.text == '{"name": "Oslo"}'
    kept = typed(ChatResult(text="not json"), shape, raising=False)
    assert kept.error == "the reply is not JSON: Expecting value at line 1 column 1"


def test_a_json_schema_dict_is_checked_by_its_own_rules() -> None:
    shape = shape_of({"title": "my answer!", "type": "array", "items": {"type": "integer"}})
    assert shape is not None and shape.name == "my_answer_"
    assert typed(ChatResult(text="[1, 2]"), shape).parsed == [1, 2]
    with pytest.raises(SchemaError, match=r"my answer!: 1: 'x' is not of type 'integer'"):
        typed(ChatResult(text='[1, "x"]'), shape)
    assert shape_of(None) is None and typed(ChatResult(text=""), shape).parsed is None
