"""The offline server in a process of its own (never sharing a kernel's or a benchmark's GIL).

Run by `_harness.Server`: prints the URL, then one JSON line per event of its request log, each
stamped with `time.monotonic()` (one clock for every process of the machine):
`{"i": N, "started": T}`, `{"i": N, "first_chunk": T}` when the first content chunk is
written, `{"i": N, "ended": T, "outcome": ..., "chunks": N}`. Stops when stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from nbstream.offline.requests import RequestLog, RequestRecord
from nbstream.offline.server import OfflineServer


class ReportingLog(RequestLog):
    """The server's request log, written to stdout as it changes."""

    def __init__(self) -> None:
        super().__init__()
        self._index: dict[int, int] = {}
        self._lock = threading.Lock()

    def _say(self, **fields: Any) -> None:
        with self._lock:
            sys.stdout.write(json.dumps(fields) + "\n")
            sys.stdout.flush()

    def _add(self, record: RequestRecord) -> RequestRecord:
        self._index[id(record)] = len(self._index)
        self._say(i=self._index[id(record)], started=record.started)
        return super()._add(record)

    def _update(self, record: RequestRecord, **changes: Any) -> None:
        # The server counts events just before writing them: the first count > 0 is the
        # role + first-token chunk going out.
        if record.chunks_sent == 0 and changes.get("chunks_sent", 0) > 0:
            self._say(i=self._index[id(record)], first_chunk=time.monotonic())
        super()._update(record, **changes)
        if changes.get("outcome", "pending") != "pending":
            self._say(i=self._index[id(record)], ended=record.ended, outcome=record.outcome,
                      chunks=record.chunks_sent)  # fmt: skip


def main() -> None:
    server = OfflineServer(rate=0, first_token_delay=0)
    server.log = ReportingLog()  # before start(): the app is built with this log
    with server:
        print(json.dumps({"url": server.url}), flush=True)
        sys.stdin.read()  # until the parent closes it (or exits)


if __name__ == "__main__":
    main()
