"""Playing a reply onto the wire: paced writes, pauses with keep-alives, the outcome logged."""

from __future__ import annotations

import asyncio
import logging

import httpx2

from nbstream.offline.playing import Aborted, HideAborts, Pacer

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


def test_a_stall_sends_keep_alive_comments_while_it_waits(server, log) -> None:
    body = {"model": "fault-stall", "messages": HELLO, "stream": True,
            "nbstream": {"stall": 0.3, "keepalive": 0.1}}  # fmt: skip
    answer = httpx2.post(f"{server.url}/chat/completions", json=body, timeout=30)
    assert b": keep-alive\n\n" in answer.content
