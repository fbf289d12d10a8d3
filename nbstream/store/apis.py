"""Which models a server serves on /v1/responses only, remembered across kernel restarts.

A small SQLite file beside the response cache (`.nbstream/apis.sqlite`), apart from it so that
the cache's format can change on its own. Blocking: the engine calls it off the loop thread.
A file that cannot be used is no loss: the server says it again, and nbstream switches again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from .db import configure, connect, journal_mode_for, transaction

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses_only (base_url TEXT, model TEXT, " \
    "PRIMARY KEY (base_url, model))"  # fmt: skip


class ResponsesOnlyModels:
    """The `ApiMemory` of the engine, kept in one SQLite file (also in memory, for speed)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._known: set[tuple[str, str]] | None = None  # under _lock, read on first use
        self._lock = threading.Lock()

    def responses_only(self, base_url: str, model: str) -> bool:
        """True if the server said before that `model` is served on /v1/responses only."""
        with self._lock:
            if self._known is None:
                self._known = self._read()
            return (base_url, model) in self._known

    def remember(self, base_url: str, model: str) -> None:
        """Note that `model` is served on /v1/responses only (kept in memory if the file fails)."""
        with self._lock:
            if self._known is None:
                self._known = self._read()
            self._known.add((base_url, model))
            with contextlib.suppress(sqlite3.Error, OSError), self._connect() as db:
                db.execute("INSERT OR IGNORE INTO responses_only VALUES (?, ?)", (base_url, model))

    def _read(self) -> set[tuple[str, str]]:
        if not self.path.exists():
            return set()
        try:
            with self._connect() as db:
                return set(db.execute("SELECT base_url, model FROM responses_only"))
        except (sqlite3.Error, OSError):
            return set()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = connect(self.path, timeout=5.0)  # the store's connection rules: 0600, WAL
        try:
            configure(db, self.path, journal_mode_for(self.path))
            with transaction(db):
                db.execute(_SCHEMA)
                yield db
        finally:
            db.close()
