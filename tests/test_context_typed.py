"""Typed answers: `schema=` asks for JSON, falls back where a server refuses, and validates;
the offline server answers with an instance of the schema and checks images like OpenAI."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import validate
from PIL import Image as PILImage
from pydantic import BaseModel

import nbstream
from nbstream.context import Prompt, build
from nbstream.context.values import Piece
from nbstream.engine.structured import JsonIndenter
from nbstream.errors import RequestError, SchemaError
from nbstream.offline.context import dimensions, instance
from nbstream.session import Session
from nbstream.settings import Api

from .conftest import demo_session


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


@dataclass
class Point:
    x: int
    y: int
    label: Literal["a", "b"] = "a"


class Row(TypedDict):
    city: str
    people: int


THING = {"title": "Thing", "type": "object", "properties": {"n": {"type": "integer"}},
         "required": ["n"], "additionalProperties": False}  # fmt: skip


@pytest.fixture
def session(server, log, monkeypatch, tmp_path) -> Session:
    return demo_session(server, monkeypatch, on_disk=tmp_path)


def formats(log) -> list[Any]:
    return [(r.body.get("response_format") or {}).get("type") for r in log.records]


# ---- the reply streams as indented JSON

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(JSON.filter(lambda v: isinstance(v, (dict, list))), st.data())
def test_a_json_reply_is_indented_as_it_streams_at_every_split(value: Any, data: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    indenter = JsonIndenter()
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert "".join(indenter.feed(p) for p in pieces) == json.dumps(
        value, indent=2, ensure_ascii=False
    )


@pytest.mark.parametrize("text", ['Sure! {"a": 1}', "  plain words", "```json\n{}\n```"])
def test_a_reply_that_does_not_start_as_json_passes_through(text: str) -> None:
    assert JsonIndenter().feed(text) == text


# ---- schema= on the Python API


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (Item, Item(name="example", price=1.5, tags=["example"])),
        (Point, Point(x=1, y=1, label="a")),
        (Row, {"city": "example", "people": 1}),
        (THING, {"n": 1}),
    ],
    ids=["pydantic", "dataclass", "TypedDict", "dict"],
)
def test_schema_asks_for_json_schema_and_returns_the_validated_object(
    session: Session, log, schema: Any, expected: Any
) -> None:
    result = nbstream.chat("one please", schema=schema, session=session, show=False)
    assert result.parsed == expected
    assert result.text == json.dumps(json.loads(result.text), indent=2)  # shown pretty
    shape = log.records[-1].body["response_format"]
    assert shape["type"] == "json_schema" and shape["json_schema"]["strict"] is True


def test_a_server_that_refuses_json_schema_gets_json_object_and_is_remembered(
    session: Session, log
) -> None:
    first = nbstream.chat("x", schema=Item, model="fault-no-json-schema", session=session)
    assert formats(log) == ["json_schema", "json_object"]
    assert first.parsed == Item(name="example", price=1.5, tags=["example"])
    assert "the server refused json_schema: using json_object" in first.notices
    log.clear()
    nbstream.chat("x", schema=Item, model="fault-no-json-schema", session=session, show=False)
    assert formats(log) == ["json_object"]  # straight to what works


def test_a_later_session_on_the_same_folder_starts_at_the_remembered_level(
    server, monkeypatch, log, tmp_path: Path
) -> None:
    first = demo_session(server, monkeypatch, on_disk=tmp_path)
    nbstream.chat("x", schema=Item, model="fault-no-json-schema", session=first, show=False)
    assert formats(log) == ["json_schema", "json_object"]
    log.clear()
    later = demo_session(server, monkeypatch, on_disk=tmp_path)  # as after a kernel restart
    result = nbstream.chat("x", schema=Item, model="fault-no-json-schema", session=later)
    assert formats(log) == ["json_object"]  # no refused first try
    assert result.parsed == Item(name="example", price=1.5, tags=["example"])
    assert not any("refused" in notice for notice in result.notices)


def test_a_server_that_refuses_any_format_gets_the_schema_as_instructions(
    session: Session, log
) -> None:
    result = nbstream.chat("x", schema=Point, model="fault-no-response-format", session=session)
    assert formats(log) == ["json_schema", "json_object", None]
    system = log.records[-1].body["messages"][0]
    assert system["role"] == "system" and '"x": {"type": "integer"}' in system["content"]
    assert result.parsed == Point(x=1, y=1)


def test_a_reply_that_does_not_validate_fails_in_one_line_with_the_path(session: Session) -> None:
    bad = {"nbstream": {"text": '{"name": "pen", "price": "cheap", "tags": []}'}}
    with pytest.raises(SchemaError) as caught:
        nbstream.chat("x", schema=Item, session=session, show=False, **bad)
    assert caught.value.message.startswith("the reply does not match Item: price: ")
    assert "\n" not in caught.value.message and caught.value.result.text.startswith("{")
    with pytest.raises(SchemaError, match="not JSON"):
        nbstream.chat("x", schema=THING, session=session, show=False, nbstream={"text": "no"})


def test_gather_with_a_schema_returns_objects_that_make_a_dataframe(session: Session) -> None:
    results = nbstream.gather(["Paris", "Rome", "Oslo"], schema=Row, session=session, show=False)
    frame = pd.DataFrame(r.parsed for r in results)
    assert list(frame.columns) == ["city", "people"] and len(frame) == 3


def test_frame_makes_a_column_per_field_of_pydantic_answers_which_stay_the_users_class(
    session: Session,
) -> None:
    results = nbstream.gather(["pen", "ink"], schema=Item, session=session, show=False)
    assert all(isinstance(r.parsed, Item) for r in results)
    assert results[0].parsed == Item(name="example", price=1.5, tags=["example"])
    table = nbstream.frame(results)
    assert list(table.columns) == ["name", "price", "tags"] and len(table) == 2
    assert table.loc[1, "name"] == "example" and table.loc[1, "price"] == 1.5


def test_frame_gives_a_missing_answer_a_row_of_missing_values() -> None:
    answered = nbstream.ChatResult(text="{}", parsed=Point(x=3, y=4))
    table = nbstream.frame([answered, nbstream.ChatResult(error="does not match")])
    assert list(table.columns) == ["x", "y", "label"]
    assert table["x"].isna().tolist() == [False, True]


def test_the_responses_api_gets_the_schema_as_text_format(session: Session, log) -> None:
    result = nbstream.chat("x", schema=Item, api=Api.RESPONSES, session=session, show=False)
    assert log.records[-1].endpoint == "responses"
    assert log.records[-1].body["text"]["format"]["name"] == "Item"
    assert result.parsed.name == "example"


# ---- the offline server: schema instances, image checks, attachments described


@pytest.mark.parametrize(
    "schema",
    [
        THING,
        {"type": "array", "items": {"type": "string", "format": "date"}, "minItems": 2},
        {"anyOf": [{"type": "null"}, {"type": "number", "minimum": 3}]},
        {"$defs": {"P": {"enum": ["x", "y"]}}, "type": "object",
         "properties": {"p": {"$ref": "#/$defs/P"}, "q": {"type": ["null", "boolean"]}}},
    ],
)  # fmt: skip
def test_the_offline_server_answers_a_schema_with_a_valid_instance(schema: dict[str, Any]) -> None:
    validate(instance(schema), schema)


def picture(kind: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, "green").save(buffer, format=kind)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF", "WEBP"])
def test_the_offline_server_reads_image_dimensions(kind: str) -> None:
    assert dimensions(picture(kind)) == (kind.lower(), 64, 48)


def test_a_figure_round_trips_to_an_image_part_the_server_validates(
    session: Session, log, tmp_path: Path
) -> None:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=50)
    ax.plot([1, 4, 2])
    (tmp_path / "chart.webp").write_bytes(picture("WEBP", (300, 200)))
    sent = build("look at {fig}", {"fig": fig}, budget=100, max_side=1024,
                 attachments=[str(tmp_path / "chart.webp")])  # fmt: skip
    result = nbstream.chat(sent, session=session, show=False)
    assert log.records[-1].status == 200
    assert "It attached 2 images: PNG " in result.text and "WEBP 300×200 (" in result.text
    plt.close(fig)


def test_an_image_part_that_is_not_an_image_is_refused_like_openai(session: Session) -> None:
    fake = {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}
    sent = Prompt("hi", [Piece("", "image", "fake", fake, 85)])
    with pytest.raises(RequestError, match="unsupported image"):
        nbstream.chat(sent, session=session, show=False)
