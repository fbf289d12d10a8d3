"""A stored exchange: its row encoding, what is sent back, and the thread's files."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from nbstream.engine.result import ChatResult, Status, ToolCall, Usage
from nbstream.store.records import (
    Exchange,
    InvalidRow,
    Thread,
    as_json,
    decode_parts,
    encode_parts,
    exchange_from_row,
    reply_content,
    summary,
)


def exchange(text: str = "Hi!", **result: object) -> Exchange:
    reply = ChatResult(text=text, model="m", usage=Usage(3, 2, 5), **result)  # type: ignore[arg-type]
    return Exchange("héllo", reply, cell_id="c1", turn_id="t1", created=10.0)


def test_parts_round_trip_the_user_message_and_the_whole_result() -> None:
    original = exchange(tool_calls=(ToolCall(0, "id", "f", "{}"),), status=Status.INTERRUPTED)
    assert decode_parts(encode_parts(original)) == ("héllo", original.result, ())
    again = exchange_from_row(encode_parts(original), "c1", "t1", 10)
    assert again == original


@pytest.mark.parametrize(
    ("parts", "why"),
    [
        (b"{}", "parts is bytes, not JSON text"),
        ('{"v": 2, "user": "x", "result": {}}', "v: "),
        ('{"v": 1, "user": 5, "result": {}}', "user: "),
        ("not json", "row: "),
    ],
)
def test_a_row_that_cannot_be_used_says_why_in_one_line(parts, why) -> None:
    with pytest.raises(InvalidRow) as caught:
        decode_parts(parts)
    assert str(caught.value).startswith(why) and "\n" not in str(caught.value)


def test_bad_columns_beside_good_parts_are_refused() -> None:
    parts = encode_parts(exchange())
    with pytest.raises(InvalidRow, match=r"^cell_id or turn_id is not text$"):
        exchange_from_row(parts, 7, "t1", 1.0)
    with pytest.raises(InvalidRow, match="created is str, not a number"):
        exchange_from_row(parts, None, "t1", "yesterday")


def test_what_is_sent_back_is_the_text_seen_else_the_refusal() -> None:
    assert reply_content(ChatResult(text="partial", status=Status.INTERRUPTED)) == "partial"
    assert reply_content(ChatResult(refusal="I can't")) == "I can't"
    assert reply_content(ChatResult()) == ""


def test_the_summary_counts_turns_and_names_the_unfinished() -> None:
    assert summary([]) == "no turns"
    turns = [exchange(), exchange(status=Status.INTERRUPTED), exchange(status=Status.FAILED)]
    assert summary(turns) == "3 turns, 1 interrupted, 1 failed"
    assert summary(turns[:1]) == "1 turn"


def test_the_json_file_holds_the_whole_thread() -> None:
    thread = Thread("t", "Be brief.", [exchange(), exchange("", status=Status.FAILED, error="x")])
    text = as_json(thread)
    assert text.startswith('{\n  "thread": "t",\n  "system": "Be brief.",\n')  # indented by 2
    assert '"user": "héllo"' in text and text.endswith("}\n")  # written as read, not escaped
    record = json.loads(text)
    first = record["exchanges"][0]
    assert (first["user"], first["cell_id"], first["turn_id"], first["created"]) == (
        "héllo",
        "c1",
        "t1",
        10.0,
    )
    assert first["result"]["text"] == "Hi!" and record["exchanges"][1]["result"]["error"] == "x"


def test_the_stored_row_keeps_text_as_written_and_images_only_when_there_are_some() -> None:
    plain = encode_parts(exchange())
    assert '"user":"héllo"' in plain and '"images"' not in plain
    pictured = encode_parts(replace(exchange(), images=("sha256:ab",)))
    assert pictured.endswith(',"images":["sha256:ab"]}')
    assert decode_parts(pictured)[2] == ("sha256:ab",)
