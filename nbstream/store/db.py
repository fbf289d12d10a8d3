"""SQLite connection rules shared by the conversation store and the response cache.

Every nbstream database is private (the file and SQLite's `-wal`/`-shm` beside it are 0600),
waits `busy_timeout` for another kernel's transaction, and runs in WAL mode with
`synchronous=NORMAL`: a crash of the process loses nothing committed; a power cut may lose the
last transaction. WAL needs shared memory, which network filesystems (NFS, SMB, FUSE mounts such
as a synced Drive folder) do not provide, so there the rollback journal (`DELETE`) is used.
The schema version lives in `PRAGMA user_version`; `migrate` brings a file up to date.
With $NBSTREAM_STRICT_THREADS=1 (the tests set it), a database used on nbstream's loop thread
raises: blocking I/O there would stall every stream.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..engine.loop import on_loop_thread

#: Filesystem types from /proc/mounts where SQLite's shared-memory WAL is unsafe.
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
     "gpfs", "davfs", "fuse", "sshfs", "ncpfs", "beegfs"}
)  # fmt: skip
SIDE_FILES = ("-wal", "-shm", "-journal")
STRICT_THREADS = "NBSTREAM_STRICT_THREADS"


class SchemaError(Exception):
    """A database nbstream cannot use as it is: foreign, or from a newer nbstream."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # a word for the set-aside file's name


def read_mounts() -> str:
    """This machine's mount table ('' where there is none)."""
    try:
        return Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def filesystem_type(path: Path, mounts: str) -> str:
    """The type of the filesystem holding `path`, from a /proc/mounts text ('' if unknown)."""
    target = str(Path(os.path.abspath(path)))
    best, kind = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def journal_mode_for(path: Path, mounts: str | None = None) -> str:
    """'wal', or 'delete' on a network or FUSE filesystem where WAL cannot work."""
    kind = filesystem_type(path, read_mounts() if mounts is None else mounts)
    network = kind in NETWORK_FILESYSTEMS or (kind.startswith("fuse.") and kind != "fuseblk")
    return "delete" if network else "wal"


def connect(path: Path, *, timeout: float) -> sqlite3.Connection:
    """A connection to `path` in autocommit mode; the file is created (empty, 0600) if missing.

    Nothing is written here: `migrate` builds the schema, `configure` sets the journal once the
    file is known to be ours. Raises OSError or sqlite3.Error when it cannot be opened.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Private from its first byte; an empty file is an empty database to SQLite, so a crash
    # here leaves nothing half-made and two kernels creating it at once meet in one file.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)


def configure(db: sqlite3.Connection, path: Path, mode: str) -> None:
    """Set the journal mode and durability of a connection to one of our files."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] != mode:
        db.execute(f"PRAGMA journal_mode={mode}")  # WAL is kept in the file
    db.execute("PRAGMA synchronous=NORMAL")
    protect(path)


def protect(path: Path) -> None:
    """Make the database and its side files private (SQLite copies the db's mode to them)."""
    for name in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{name}", 0o600)


def off_loop() -> None:
    """Raise AssertionError on nbstream's loop thread when $NBSTREAM_STRICT_THREADS is set."""
    if os.environ.get(STRICT_THREADS) == "1" and on_loop_thread():
        raise AssertionError("database I/O on nbstream's loop thread: run it in an executor")


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """One transaction: committed when the block ends, rolled back on any exception."""
    off_loop()
    db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield db
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate(db: sqlite3.Connection, migrations: Sequence[Sequence[str]], *, table: str) -> None:
    """Apply the migrations the file lacks (migration N brings it to user_version N).

    Raises SchemaError for a database that is not ours (no `table`) or is newer than us.
    A file that is up to date is only read: opening it never waits for another kernel's write.
    """
    with transaction(db, write=False):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    if version == len(migrations) and table in tables:
        return
    with transaction(db):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations):
            raise SchemaError("newer", f"was written by a newer nbstream (schema {version})")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if version == 0 and tables:
            raise SchemaError("foreign", "is an SQLite database but not nbstream's")
        if version and table not in tables:
            raise SchemaError("damaged", f"is damaged (its {table} table is missing)")
        for number, statements in enumerate(migrations[version:], start=version + 1):
            for statement in statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={number}")


def set_aside(path: Path, reason: str, now: float) -> Path:
    """Rename `path` (and its side files) to a fresh `<name>.<reason>-<stamp>`; return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    candidates = (path.with_name(f"{path.name}.{reason}-{stamp}{f'-{n}' if n > 1 else ''}")
                  for n in range(1, 1000))  # fmt: skip
    target = next(c for c in candidates if not c.exists())
    os.rename(path, target)
    for name in SIDE_FILES:  # a stale -wal must never be replayed into a new database
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{path}{name}", f"{target}{name}")
    return target


_PROBLEMS = (
    ("full", "disk full"),
    ("no space", "disk full"),
    ("readonly", "read-only"),
    ("read-only", "read-only"),
    ("locked", "locked by another process"),
    ("busy", "locked by another process"),
)


def problem(exc: BaseException) -> str:
    """A short description of why a write failed: 'disk full (...)', 'read-only (...)' …"""
    text = str(getattr(exc, "strerror", None) or exc)
    lowered = text.lower()
    said = next((said for needle, said in _PROBLEMS if needle in lowered), None)
    return f"{said} ({text})" if said else text
