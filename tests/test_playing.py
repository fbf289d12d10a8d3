"""Playing a reply onto the wire: paced writes, pauses with keep-alives, the outcome logged."""

from __future__ import annotations

import asyncio
import logging

import anyio
import httpx2

from nbstream.offline.playing import Aborted, HideAborts, Pacer, Played
from nbstream.offline.replies import Write
from nbstream.offline.requests import RequestLog, RequestRecord

from .conftest import HANG

HELLO = [{"role": "user", "content": "Hi"}]


def test_the_pacer_schedules_writes_and_a_pause_moves_the_schedule() -> None:
    async def main() -> tuple[float | None, float | None]:
        pacer = Pacer(rate=1000.0, delay=0.0)
        await pacer.wait()
        first = pacer.first
        pacer.shift(2.5)
        await pacer.wait()
        return first, pacer.first

    first, shifted = asyncio.run(main())
    assert first is not None and shifted == first + 2.5


def test_a_pause_before_the_first_write_leaves_the_schedule_unset() -> None:
    pacer = Pacer(rate=10.0, delay=0.0)
    pacer.shift(1.0)
    assert pacer.first is None and pacer.count == 0


def test_aborts_are_kept_out_of_the_servers_log_and_other_errors_are_not() -> None:
    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "uvicorn", logging.ERROR, "", 0, "boom", (), (type(exc), exc, None)
        )

    assert not HideAborts().filter(record(Aborted()))
    assert HideAborts().filter(record(ValueError("real")))


def test_a_played_stream_is_logged_complete_with_its_event_count(server, log) -> None:
    body = {"model": "nbstream-demo", "messages": HELLO, "stream": True,
            "nbstream": {"text": "a b c"}}  # fmt: skip
    raw = httpx2.post(f"{server.url}/chat/completions", json=body, timeout=30).content
    (record,) = log.records
    assert record.outcome == "complete" and record.status == 200
    assert record.chunks_sent == raw.count(b"data: ")


def test_the_log_says_complete_before_the_last_byte_leaves() -> None:
    # A client that stops at Content-Length or [DONE] may look at the log at once.
    log = RequestLog()
    record = log._add(RequestRecord("m", {}, None, stream=False, include_usage=False))
    ops = [Write(b'{"a": '), Write(b"1}")]
    seen: list[tuple[bytes, str]] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            seen.append((message["body"], record.outcome))

    async def receive() -> dict:
        await anyio.sleep_forever()
        return {}

    async def main() -> None:
        played = Played(log, anyio.Event(), record, ops, media_type="application/json",
                        pacer=Pacer(0, 0))  # fmt: skip
        await played({"type": "http"}, receive, send)

    asyncio.run(main())
    assert seen[:2] == [(b'{"a": ', "pending"), (b"1}", "complete")]


def test_a_stall_sends_keep_alive_comments_while_it_waits(server, log) -> None:
    # A keep-alive every 0.1 s of a stall as long as HANG: the first one is read long before
    # the stall ends however busy the server's thread is, and the test stops reading there.
    body = {"model": "fault-stall", "messages": HELLO, "stream": True,
            "nbstream": {"stall": HANG, "keepalive": 0.1}}  # fmt: skip
    received = b""
    with httpx2.stream(
        "POST", f"{server.url}/chat/completions", json=body, timeout=HANG * 2
    ) as answer:
        for piece in answer.iter_raw():
            received += piece
            if b": keep-alive\n\n" in received:
                break
    assert b": keep-alive\n\n" in received
    assert b"[DONE]" not in received  # it came while the stall lasted
