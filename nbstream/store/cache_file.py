"""The response cache's SQLite file: opened, checked and created, never changed when not ours.

The file lives under the same connection rules as the conversations (db.py: 0600, WAL or the
rollback journal on network filesystems, a busy timeout), so several kernels write at once. A
file that is not a usable nbstream cache is reported with a `CacheError` and never changed or
deleted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import CacheError
from .db import configure, connect, journal_mode_for, transaction
from .paths import short_path

FORMAT = "nbstream-cache"
VERSION = 1
#: Seconds a writer waits for another kernel's transaction before giving up.
BUSY_TIMEOUT = 10.0
_SQLITE_HEADER = b"SQLite format 3\x00"
SCHEMA = """
CREATE TABLE nbstream_cache (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE replies (
    key TEXT PRIMARY KEY,   -- sha256 of `request`
    created REAL NOT NULL,  -- when it was recorded, epoch seconds
    model TEXT NOT NULL,    -- the model as requested
    host TEXT NOT NULL,
    preview TEXT NOT NULL,  -- the prompt's first line, shortened
    request TEXT NOT NULL,  -- the canonical JSON that was hashed
    result TEXT NOT NULL    -- ChatResult.to_dict() as JSON
);
"""


class CacheFile:
    """One cache file and the connection kept to it; safe to use from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mode = journal_mode_for(path)
        self._checked = False  # the pages were checked once by this kernel
        self._lock = threading.Lock()  # guards the kept connection: turns end on many threads
        self._db: sqlite3.Connection | None = None
        self._ident: tuple[int, int] | None = None  # device and inode `_db` was opened on

    @property
    def where(self) -> str:
        """The path as shown to the user: relative to the current directory when inside it."""
        return short_path(self.path)

    @contextlib.contextmanager
    def connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction on the validated store. Writing creates the store if needed; reading
        one that does not exist yet gets an empty one in memory."""
        if not write and not self.path.exists():
            with contextlib.closing(sqlite3.connect(":memory:")) as empty:
                empty.executescript(SCHEMA)
                yield empty
            return
        self._check_header()
        with self._lock:
            db, fresh = self._connection()
            try:
                if write:
                    self._create_tables(db)
                self._check_schema(db)
                if fresh:  # only now is the file known to be ours
                    configure(db, self.path, self._mode)
                with transaction(db, write=write):
                    if write and not self._checked:
                        self._check_pages(db)
                    yield db
            except sqlite3.Error as exc:
                self._forget()
                raise self._damaged(exc) from None
            except CacheError:
                self._forget()
                raise

    def close(self) -> None:
        """Close the kept connection (the next use opens a new one)."""
        with self._lock:
            self._forget()

    def unusable(self, problem: str, fix: str = "") -> CacheError:
        """The error for a file nbstream will not touch: `problem` says why, `fix` what to do."""
        shown = self.where
        return CacheError(
            f"the response cache {shown} {problem}; nbstream leaves it as it is",
            f"{fix + ' ' if fix else ''}move it aside to start a new cache "
            f"(mv {shown} {shown}.old), or turn the cache off: %chat cache off",
        )

    def _connection(self) -> tuple[sqlite3.Connection, bool]:
        """The kept connection, or a new one if there is none or the file was replaced; kept
        open because closing the last connection checkpoints the whole WAL (each put paid it)."""
        try:
            stat = os.stat(self.path)
            ident: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            ident = None
        if self._db is not None and ident == self._ident:
            return self._db, False
        self._forget()
        try:
            self._db = connect(self.path, timeout=BUSY_TIMEOUT)
            stat = os.stat(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise self._cannot_use(exc) from None
        self._ident = (stat.st_dev, stat.st_ino)
        return self._db, True

    def _forget(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db, self._ident = None, None

    def _check_pages(self, db: sqlite3.Connection) -> None:
        # Writing into a damaged file could lose what is still readable. Once per kernel, not
        # per write: quick_check reads the whole file (376 ms at 100,000 replies).
        problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problem != "ok":
            raise self.unusable(f"is damaged (sqlite: {' '.join(problem.split())})")
        self._checked = True

    def _check_header(self) -> None:
        """Refuse a file that is not SQLite (an empty one is a store not yet made)."""
        try:
            with self.path.open("rb") as handle:
                head = handle.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._cannot_use(exc) from None
        if head not in (b"", _SQLITE_HEADER):
            raise self.unusable("is not an SQLite database")

    def _create_tables(self, db: sqlite3.Connection) -> None:
        with transaction(db):  # two kernels making it at once: the second finds it made
            if _tables(db):
                return
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            db.executemany(
                "INSERT INTO nbstream_cache VALUES (?, ?)",
                [("format", FORMAT), ("version", str(VERSION))],
            )

    def _cannot_use(self, exc: BaseException) -> CacheError:
        return CacheError(
            f"cannot use the response cache {self.where}: {getattr(exc, 'strerror', None) or exc}",
            "check the permissions of .nbstream/, or turn the cache off: %chat cache off",
        )

    def _check_schema(self, db: sqlite3.Connection) -> None:
        tables = _tables(db)
        if "nbstream_cache" not in tables:
            raise self.unusable("is an SQLite database but not an nbstream response cache")
        meta = dict(db.execute("SELECT name, value FROM nbstream_cache").fetchall())
        if meta.get("format") != FORMAT:
            raise self.unusable("is not an nbstream response cache")
        version = str(meta.get("version", ""))
        if not version.isdigit():
            raise self.unusable(f"is damaged (bad version {version!r})")
        if int(version) > VERSION:
            raise self.unusable(
                f"was written by a newer nbstream (cache format {version})", "upgrade nbstream, or"
            )
        if "replies" not in tables:
            raise self.unusable("is damaged (its replies table is missing)")

    def _damaged(self, exc: sqlite3.Error) -> CacheError:
        name = getattr(exc, "sqlite_errorname", "")
        if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(exc):
            return CacheError(
                f"the response cache {self.where} stayed locked by another process "
                f"for {BUSY_TIMEOUT:g} s",
                "run the cell again when the other kernel is done writing",
            )
        return self.unusable(f"cannot be used (sqlite: {exc})")


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
