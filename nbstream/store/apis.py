"""What servers were found to need, remembered across kernel restarts: the models served on
/v1/responses only, and how far a model's structured output had to fall back.

A small SQLite file beside the response cache (`.nbstream/apis.sqlite`), apart from it so that
the cache's format can change on its own. Blocking: the engine calls it off the loop thread.
A file that cannot be used is no loss: the server says it again, and nbstream adapts again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from .db import configure, connect, journal_mode_for, transaction

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses_only (base_url TEXT, model TEXT, "
    "PRIMARY KEY (base_url, model))",
    # level: an index into engine.structured.LEVELS (1 json_object, 2 instructions)
    "CREATE TABLE IF NOT EXISTS schema_levels (base_url TEXT, model TEXT, "
    "level INTEGER NOT NULL, PRIMARY KEY (base_url, model))",
)


class ServerMemory:
    """The `ApiMemory` of the engine, kept in one SQLite file (also in memory, for speed)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._responses_only: set[tuple[str, str]] | None = None  # under _lock, read on first use
        self._levels: dict[tuple[str, str], int] = {}  # under _lock, read with the above
        self._lock = threading.Lock()

    def load(self) -> None:
        """Read the file now (once), so that later questions are answered from memory."""
        with self._lock:
            self._known()

    def responses_only(self, base_url: str, model: str) -> bool:
        """True if the server said before that `model` is served on /v1/responses only."""
        with self._lock:
            return (base_url, model) in self._known()

    def responses_only_at_hand(self, base_url: str, model: str) -> bool | None:
        """`responses_only` without blocking: None when the file is not read yet or a write
        holds the lock (then ask `responses_only` off the loop)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            known = self._responses_only
            return None if known is None else (base_url, model) in known
        finally:
            self._lock.release()

    def remember(self, base_url: str, model: str) -> None:
        """Note that `model` is served on /v1/responses only (kept in memory if the file fails)."""
        with self._lock:
            self._known().add((base_url, model))
            self._write("INSERT OR IGNORE INTO responses_only VALUES (?, ?)", base_url, model)

    def schema_level(self, base_url: str, model: str) -> int:
        """How far structured output had to fall back for `model` before (0: not at all)."""
        with self._lock:
            self._known()
            return self._levels.get((base_url, model), 0)

    def remember_schema_level(self, base_url: str, model: str, level: int) -> None:
        """Note that `model` needs structured-output fallback `level` (never lowered)."""
        with self._lock:
            self._known()
            key = (base_url, model)
            self._levels[key] = max(level, self._levels.get(key, 0))
            upsert = "INSERT INTO schema_levels VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET level = "
            self._write(upsert + "max(level, excluded.level)", base_url, model, level)

    def _known(self) -> set[tuple[str, str]]:
        """The Responses-only models; the first call reads the file (levels too)."""
        if self._responses_only is None:
            self._responses_only, self._levels = self._read()
        return self._responses_only

    def _read(self) -> tuple[set[tuple[str, str]], dict[tuple[str, str], int]]:
        if not self.path.exists():
            return set(), {}
        try:
            with self._connect() as db:
                models = set(db.execute("SELECT base_url, model FROM responses_only"))
                levels = db.execute("SELECT base_url, model, level FROM schema_levels")
                return models, {(url, model): level for url, model, level in levels}
        except (sqlite3.Error, OSError):
            return set(), {}

    def _write(self, statement: str, *values: object) -> None:
        with contextlib.suppress(sqlite3.Error, OSError), self._connect() as db:
            db.execute(statement, values)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = connect(self.path, timeout=5.0)  # the store's connection rules: 0600, WAL
        try:
            configure(db, self.path, journal_mode_for(self.path))
            with transaction(db):
                for statement in _SCHEMA:
                    db.execute(statement)
                yield db
        finally:
            db.close()
