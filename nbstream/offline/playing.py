"""Playing a reply's ops to the client: pacing, pauses with keep-alives, aborts, disconnects."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .replies import Abort, Op, Pause
from .requests import RequestLog, RequestRecord


class Aborted(Exception):
    """Raised to uvicorn so that it closes the connection in the middle of a body."""


class HideAborts(logging.Filter):
    # uvicorn logs every exception from the app with a traceback; aborts are deliberate.
    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the records of deliberate aborts."""
        return not (record.exc_info and isinstance(record.exc_info[1], Aborted))


async def _race(play: Callable[[], Awaitable[str]], receive: Receive, stopping: anyio.Event) -> str:
    """Run `play` until it ends, the client disconnects, or the server stops; the outcome."""
    outcome = "disconnected"
    async with anyio.create_task_group() as group:

        async def run() -> None:
            nonlocal outcome
            outcome = await play()
            group.cancel_scope.cancel()

        async def watch_client() -> None:
            # Do not rely on send() failing: a stalled stream sends nothing for a long time.
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        async def watch_server() -> None:
            nonlocal outcome
            await stopping.wait()
            outcome = "aborted"
            group.cancel_scope.cancel()

        for task in (run, watch_client, watch_server):
            group.start_soon(task)
    return outcome


class Played(Response):
    """A response that plays ops to the client and records how that ended."""

    def __init__(
        self,
        log: RequestLog,
        stopping: anyio.Event,
        record: RequestRecord,
        ops: list[Op],
        *,
        media_type: str,
        pacer: Pacer,
        headers: dict[str, str] | None = None,
        eager: bool = False,
    ) -> None:
        self.status_code, self.media_type, self.background = 200, media_type, None
        self.init_headers(headers)
        self.log, self.stopping, self.record, self.ops, self.pacer = (
            log,
            stopping,
            record,
            ops,
            pacer,
        )
        self.eager = eager  # send the headers before the first write (streams do)
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send
        if self.eager:
            await self.start()
        outcome = await _race(self.play, receive, self.stopping)
        if outcome != "complete":
            self.log._end(self.record, outcome, 200)
        if outcome == "aborted":
            raise Aborted

    async def start(self) -> None:
        """Send the status line and headers."""
        self.started = True
        await self.send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )

    async def write(self, data: bytes) -> None:
        """Send a piece of the body, starting the response first if need be."""
        if not self.started:
            await self.start()
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def play(self) -> str:
        """Play every operation in order; the outcome ('complete' or 'aborted')."""
        last = len(self.ops) - 1
        for number, op in enumerate(self.ops):
            if isinstance(op, Abort):
                return "aborted"
            if isinstance(op, Pause):
                await self.pause(op)
                continue
            # Always yield, so the loop notices a gone client before asyncio starts warning
            # about writes into a dead socket.
            await (self.pacer.wait() if op.paced else anyio.sleep(0))
            if op.events:  # counted first, so a client that has read them sees them counted
                self.log._update(self.record, chunks_sent=self.record.chunks_sent + op.events)
            if number == last:  # ended first, for a client that stops reading at the last byte
                self.log._end(self.record, "complete", 200)
            await self.write(op.data)
        if not self.started:
            await self.start()
        if self.record.outcome != "complete":  # no ops, or a pause last
            self.log._end(self.record, "complete", 200)
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        return "complete"

    async def pause(self, op: Pause) -> None:
        """Wait `op.seconds`, sending keep-alive comments if it asks for them."""
        end = time.monotonic() + op.seconds
        while (left := end - time.monotonic()) > 0:
            await anyio.sleep(min(left, op.keepalive or left))
            if op.keepalive and time.monotonic() < end:
                await self.write(b": keep-alive\n\n")
        self.pacer.shift(op.seconds)


class Pacer:
    """Deadlines for paced writes: the first after `delay`, then one every 1/rate s."""

    def __init__(self, rate: float, delay: float) -> None:
        self.rate, self.delay = rate, delay
        self.first: float | None = None
        self.count = 0

    async def wait(self) -> None:
        """Sleep until the next paced write is due; at least yield to the loop."""
        if self.first is None:
            await anyio.sleep(self.delay)
            self.first = time.monotonic()
        else:
            # A schedule, not sleep(1/rate) per token, so that delays do not add up.
            due = self.first + self.count / self.rate if self.rate > 0 else 0.0
            await anyio.sleep(max(0.0, due - time.monotonic()))
        self.count += 1

    def shift(self, seconds: float) -> None:
        """Move the schedule back after a pause."""
        if self.first is not None:
            self.first += seconds
