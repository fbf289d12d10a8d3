"""The record of data-scale runs: each finished item of `nbstream.map`, and the batches sent.

One SQLite file beside the response cache, `.nbstream/runs.sqlite`, under the store's connection
rules (db.py: 0600, WAL, a busy timeout) and migrations, so a run killed at any point keeps
every item that finished before it, and a re-run — in this kernel or a new one — asks only for
the rest. Items are keyed by their request (the response cache's key: server, model, messages,
parameters), so the same prompt with other parameters is asked afresh. Blocking: called off
nbstream's loop thread.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..engine.result import ChatResult
from ..errors import CacheError
from .db import SchemaError, configure, connect, journal_mode_for, migrate, problem, transaction
from .paths import short_path

MIGRATIONS = (
    (
        """CREATE TABLE items (
        key TEXT PRIMARY KEY,   -- the request's cache key
        created REAL NOT NULL,  -- when it finished, epoch seconds
        result TEXT NOT NULL    -- ChatResult.to_dict() as JSON
        )""",
    ),
    (
        """CREATE TABLE batches (
        id TEXT PRIMARY KEY,    -- the provider's batch id
        created REAL NOT NULL,
        base_url TEXT NOT NULL, -- where it was sent (the key is never stored)
        state TEXT NOT NULL,    -- the last status seen: validating, in_progress, completed ...
        jobs TEXT NOT NULL      -- JSON: {custom_id: request key} to file the results under
        )""",
    ),
)
#: Seconds a writer waits for another kernel's transaction.
BUSY_TIMEOUT = 10.0


@dataclass(frozen=True)
class BatchRow:
    """A batch sent to a provider: where, its last state, and the items it carries."""

    id: str
    created: float
    base_url: str
    state: str
    jobs: dict[str, str]  # custom_id -> request key


class RunRecord:
    """Finished items and sent batches; one connection, shared by threads under `_lock`."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def finished(self, keys: Iterable[str]) -> dict[str, ChatResult]:
        """The recorded results among `keys`."""
        wanted, found = list(keys), {}
        with self._use() as db:
            for start in range(0, len(wanted), 500):  # SQLite's bound-variable limit
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, result FROM items WHERE key IN ({marks})"
                for key, text in db.execute(query, chunk):
                    found[key] = ChatResult.from_dict(json.loads(text))
        return found

    def put(self, key: str, result: ChatResult) -> None:
        """Record a finished item (one transaction: a crash loses at most this one)."""
        text = json.dumps(result.to_dict())
        with self._use() as db:
            db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", (key, self._clock(), text))

    def add_batch(self, batch_id: str, base_url: str, state: str, jobs: dict[str, str]) -> None:
        """Keep a batch sent to a provider, so results can be fetched from another kernel."""
        row = (batch_id, self._clock(), base_url, state, json.dumps(jobs))
        with self._use() as db:
            db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?)", row)

    def set_state(self, batch_id: str, state: str) -> None:
        """Note a batch's latest status."""
        with self._use() as db:
            db.execute("UPDATE batches SET state = ? WHERE id = ?", (state, batch_id))

    def batches(self, ids: Iterable[str] | None = None) -> list[BatchRow]:
        """The batches kept (only `ids` when given), oldest first."""
        with self._use() as db:
            rows = db.execute("SELECT * FROM batches ORDER BY created").fetchall()
        wanted = None if ids is None else set(ids)
        return [
            BatchRow(r[0], r[1], r[2], r[3], json.loads(r[4]))
            for r in rows
            if wanted is None or r[0] in wanted
        ]

    def close(self) -> None:
        """Close the connection (the next use opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextlib.contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; a store that fails becomes a CacheError."""
        with self._lock:
            try:
                with transaction(self._connection()) as db:
                    yield db
            except (sqlite3.Error, OSError, SchemaError) as exc:
                raise self._error(exc) from None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = connect(self.path, timeout=BUSY_TIMEOUT)
            try:
                configure(db, self.path, journal_mode_for(self.path))
                migrate(db, MIGRATIONS, table="items")
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _error(self, exc: BaseException) -> CacheError:
        return CacheError(
            f"the run record {short_path(self.path)} {problem(exc)}",
            "move the file away to start a new record, or pass resume=False",
        )


def runs_path(cache: Path) -> Path:
    """The run record beside the response cache `cache`."""
    return cache.with_name("runs.sqlite")
