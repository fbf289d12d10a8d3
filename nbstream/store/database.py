"""The conversation store's database file: one connection, opened on first use, and what
happens to a file that cannot be used (set aside, never overwritten).

Owned by the ConversationStore and used only under its lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import attachments, rows
from . import db as sql
from .attachments import Blob
from .paths import short_path
from .rows import Delta, Known, Op


class Database:
    """The file threads are written to (`path`), or an in-memory database when there is none."""

    def __init__(self, path: Path | None, *, timeout: float, mounts: str | None) -> None:
        self.path = path
        self.journal_mode = "memory" if path is None else sql.journal_mode_for(path, mounts)
        self._timeout = timeout
        self._db: sqlite3.Connection | None = None if path is not None else _memory()
        # Per thread, the file's data_version (which moves only with other connections'
        # commits) when this connection last read it: unchanged, the thread is not read again.
        self._looked: dict[str, int] = {}

    def connection(self) -> sqlite3.Connection:
        """The open connection, opening and migrating the file first if need be."""
        if self._db is None:
            assert self.path is not None
            db = sql.connect(self.path, timeout=self._timeout)
            try:
                sql.migrate(db, rows.MIGRATIONS, table="exchanges")
                sql.configure(db, self.path, self.journal_mode)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def read_all(self, notebook: str) -> dict[str, Delta | None]:
        """Every thread of `notebook`, whole, in one read transaction."""
        db = self.connection()
        sql.off_loop()
        version = _data_version(db)
        with sql.transaction(db, write=False):
            deltas = {n: rows.fetch(db, notebook, n, None) for n in rows.names(db, notebook)}
        self._looked.update(dict.fromkeys(deltas, version))
        return deltas

    def fetch(self, notebook: str, name: str, known: Known | None) -> Delta | None:
        """What changed in thread `name` since `known` (None: nothing did); nothing is read
        when no other connection has committed since this one last read the thread."""
        db = self.connection()
        sql.off_loop()
        version = _data_version(db)
        if known is not None and self._looked.get(name) == version:
            return None
        with sql.transaction(db, write=False):
            delta = rows.fetch(db, notebook, name, known)
        self._looked[name] = version  # read before the snapshot: a later commit moves it
        return delta

    def write(
        self, notebook: str, ops: list[Op], names: set[str], known: dict[str, Known]
    ) -> dict[str, Delta | None]:
        """Write `ops` in one transaction, then read what changed in `names` since `known`."""
        mine = {op.exchange.turn_id: op.exchange for op in ops if op.exchange}
        db = self.connection()
        sql.off_loop()
        version = _data_version(db)
        with sql.transaction(db):
            for op in ops:
                rows.apply(db, notebook, op)
            deltas = {n: rows.fetch(db, notebook, n, known.get(n), mine) for n in names}
        self._looked.update(dict.fromkeys(names, version))
        return deltas

    def image_parts(
        self, names: Sequence[str], pending: Mapping[str, Blob]
    ) -> list[dict[str, Any]]:
        """The image parts `names` name, from `pending` bytes or the file's; an image that
        cannot be read is left out (its placeholder stays in the message's text)."""
        blobs = dict(pending)
        wanted = [digest for digest in attachments.hashed(names) if digest not in blobs]
        with contextlib.suppress(OSError, sqlite3.Error):  # opening the file may fail too
            blobs |= self._images(wanted) if wanted else {}
        return attachments.parts(names, blobs)

    def _images(self, digests: Sequence[str]) -> dict[str, Blob]:
        with sql.transaction(self.connection(), write=False) as db:
            return attachments.load(db, digests)

    def adopt(self, notebook: str, old: str) -> tuple[list[str], list[str]]:
        """Move `old`'s threads to `notebook` (see rows.adopt) in one transaction."""
        with sql.transaction(self.connection()) as db:
            moved, clashes = rows.adopt(db, notebook, old)
        self._looked.clear()  # our own commits leave data_version alone: read them again
        return moved, clashes

    def close(self) -> None:
        """Close the connection; the next use opens the file again."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._looked.clear()  # data_version is per connection

    def shown(self) -> str:
        """The file as shown in messages."""
        return short_path(self.path) if self.path else "memory"

    def where(self) -> str:
        """Where threads are kept and in which journal mode, for `%chat config`."""
        if self.path is None:
            return "in memory only"
        return f"{short_path(self.path)} (journal {self.journal_mode})"

    def set_aside(self, exc: BaseException, now: float) -> str:
        """Rename a file that cannot be used (`exc` says why) and start afresh; the warning.

        When it cannot be renamed, the store goes on in memory only: writing would overwrite
        the only copy of what could not be read.
        """
        assert self.path is not None
        self.close()
        reason = exc.reason if isinstance(exc, sql.SchemaError) else "damaged"
        said = str(exc) if isinstance(exc, sql.SchemaError) else f"could not be read ({exc})"
        shown = self.shown()
        try:
            kept = sql.set_aside(self.path, reason, now)
        except OSError as err:
            self.path, self.journal_mode, self._db = None, "memory", _memory()
            return (
                f"nbstream: {shown} {said} and could not be set aside ({err}); "
                "starting a fresh conversation that will not be saved"
            )
        return f"nbstream: {shown} {said}; set aside as {kept.name}; starting a fresh conversation"


def _data_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def _memory() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    sql.migrate(db, rows.MIGRATIONS, table="exchanges")
    return db
