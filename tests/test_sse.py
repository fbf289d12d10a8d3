"""Server-sent events from bytes: events, comments, every line ending, any split point."""

from __future__ import annotations

from nbstream.engine.sse import Comment, ServerEvent, SSEParser

STREAM = b'event: delta\r\ndata: {"a":1}\r\n\r\n: keep-alive\n\ndata: one\ndata: two\r\r\n'
EXPECTED = [ServerEvent('{"a":1}', "delta"), Comment("keep-alive"), ServerEvent("one\ntwo")]


def parse_in(pieces: list[bytes]) -> list[ServerEvent | Comment]:
    parser = SSEParser()
    return [item for piece in pieces for item in parser.feed(piece)]


def test_events_and_comments_in_order_whatever_the_line_endings() -> None:
    assert parse_in([STREAM]) == EXPECTED


def test_every_split_point_gives_the_same_events() -> None:
    for cut in range(len(STREAM) + 1):
        assert parse_in([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_a_character_split_across_reads_comes_out_whole() -> None:
    data = "data: héllo 👋\n\n".encode()
    for cut in range(len(data) + 1):
        assert parse_in([data[:cut], data[cut:]]) == [ServerEvent("héllo 👋")], cut


def test_u2028_inside_data_does_not_end_a_line() -> None:
    assert parse_in(['data: {"t":"a\u2028b"}\n\n'.encode()]) == [ServerEvent('{"t":"a\u2028b"}')]


def test_a_blank_line_without_data_dispatches_nothing_and_ids_are_ignored() -> None:
    assert parse_in([b"id: 7\nretry: 10\n\nevent: x\n\ndata:no-space\n\n"]) == [
        ServerEvent("no-space")
    ]


def test_an_unfinished_event_waits_for_its_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: half\n") == []
    assert parser.feed(b"\n") == [ServerEvent("half")]


def test_a_trailing_cr_waits_it_may_be_half_of_a_crlf() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: x\r\r") == []
    assert parser.feed(b"\n") == [ServerEvent("x")]
