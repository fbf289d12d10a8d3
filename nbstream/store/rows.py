"""The conversation tables and every statement that reads or changes them.

Threads are keyed by notebook (its file name inside the folder) and name. Each thread has a
`rev`, bumped by every change, and an `epoch`, bumped when exchanges are removed; a kernel that
remembers both reads only the rows changed since (`rev > seen`), or the whole thread after a
removal. Exchange ids follow commit order, so interleaved turns of two kernels keep that order.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from . import attachments
from .attachments import Blob
from .records import Exchange, InvalidRow, Thread, encode_parts, exchange_from_row

#: Migration N: the statements that bring a database to schema version N.
MIGRATIONS = (
    (
        """CREATE TABLE threads (
        id INTEGER PRIMARY KEY,
        notebook TEXT NOT NULL,           -- the notebook's file name in this folder
        name TEXT NOT NULL,
        system TEXT,
        rev INTEGER NOT NULL DEFAULT 0,   -- bumped by every change to the thread
        epoch INTEGER NOT NULL DEFAULT 0, -- bumped when exchanges are removed: readers reload
        UNIQUE (notebook, name)
        )""",
        """CREATE TABLE exchanges (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- commit order; never reused
        thread INTEGER NOT NULL REFERENCES threads (id),
        rev INTEGER NOT NULL,                  -- the thread's rev when last written
        cell_id TEXT,
        turn_id TEXT NOT NULL,
        created REAL NOT NULL,
        parts TEXT NOT NULL                    -- versioned JSON: see records.py
        )""",
        "CREATE INDEX exchanges_by_rev ON exchanges (thread, rev)",
        "CREATE INDEX exchanges_by_cell ON exchanges (thread, cell_id) WHERE cell_id IS NOT NULL",
    ),
    attachments.MIGRATION,  # each image's bytes once, tied to the exchanges that attach it
)


@dataclass(frozen=True)
class Op:
    """One change to a thread, applied in memory at once and written in order."""

    kind: str  # record | system | reset | undo | fork
    thread: str
    exchange: Exchange | None = None
    system: str | None = None
    source: Thread | None = None  # fork: the thread copied, as this kernel saw it
    blobs: tuple[Blob, ...] = ()  # record: the bytes of the images the exchange attaches


@dataclass
class Known:
    """A thread as last read from the database; owned by the store, under its lock."""

    tid: int
    system: str | None
    rev: int
    epoch: int
    rows: dict[int, Exchange] = field(default_factory=dict)  # by row id, in commit order


@dataclass(frozen=True)
class Delta:
    """What changed in a thread since `Known`: all rows (`full`) or only the changed ones."""

    exists: bool
    full: bool = False
    tid: int = 0
    system: str | None = None
    rev: int = 0
    epoch: int = 0
    rows: tuple[tuple[int, Exchange | None], ...] = ()  # None: a row that no longer validates
    invalid: tuple[str, ...] = ()


def names(db: sqlite3.Connection, notebook: str) -> list[str]:
    """The notebook's thread names in the order they were created."""
    query = "SELECT name FROM threads WHERE notebook = ? ORDER BY id"
    return [row[0] for row in db.execute(query, (notebook,))]


def fetch(
    db: sqlite3.Connection,
    notebook: str,
    name: str,
    known: Known | None,
    mine: dict[str, Exchange] | None = None,
) -> Delta | None:
    """What changed in thread `name` since `known` (None when nothing did); rows this kernel
    just wrote (`mine`, by turn id) are taken as they are rather than read back."""
    query = "SELECT id, system, rev, epoch FROM threads WHERE notebook = ? AND name = ?"
    row = db.execute(query, (notebook, name)).fetchone()
    if row is None:
        return None if known is None else Delta(exists=False)
    tid, system, rev, epoch = row
    if known is not None and (known.tid, known.rev, known.epoch) == (tid, rev, epoch):
        return None
    full = known is None or (known.tid, known.epoch) != (tid, epoch)
    seen = -1 if full or known is None else known.rev
    found = db.execute(
        "SELECT id, parts, cell_id, turn_id, created FROM exchanges "
        "WHERE thread = ? AND rev > ? ORDER BY id",
        (tid, seen),
    ).fetchall()
    rows: list[tuple[int, Exchange | None]] = []
    invalid: list[str] = []
    for rowid, *columns in found:
        try:
            ours = (mine or {}).get(columns[2])
            rows.append((rowid, ours or exchange_from_row(*columns)))
        except InvalidRow as exc:
            rows.append((rowid, None))
            invalid.append(f"exchange {rowid} of thread {name!r} skipped: {exc}")
    return Delta(True, full, tid, system, rev, epoch, tuple(rows), tuple(invalid))


def apply(db: sqlite3.Connection, notebook: str, op: Op) -> None:
    """Write one change inside the caller's transaction."""
    removes = int(op.kind in ("reset", "undo", "fork"))
    if op.kind in ("record", "system", "fork"):
        bumped = db.execute(
            "INSERT INTO threads (notebook, name, rev, epoch) VALUES (?, ?, 1, 0) "
            "ON CONFLICT (notebook, name) DO UPDATE SET rev = rev + 1, epoch = epoch + ? "
            "RETURNING id, rev",
            (notebook, op.thread, removes),
        ).fetchone()
    else:  # undo or reset of a thread that was never written: nothing to do
        bumped = db.execute(
            "UPDATE threads SET rev = rev + 1, epoch = epoch + 1 "
            "WHERE notebook = ? AND name = ? RETURNING id, rev",
            (notebook, op.thread),
        ).fetchone()
        if bumped is None:
            return
    tid, rev = bumped
    if op.kind == "record":
        assert op.exchange is not None
        _record(db, tid, rev, op.exchange, op.blobs)
    elif op.kind == "system":
        db.execute("UPDATE threads SET system = ? WHERE id = ?", (op.system, tid))
    elif op.kind == "undo":
        db.execute(
            "DELETE FROM exchanges WHERE id = "
            "(SELECT id FROM exchanges WHERE thread = ? ORDER BY id DESC LIMIT 1)",
            (tid,),
        )
    else:
        db.execute("DELETE FROM exchanges WHERE thread = ?", (tid,))
    if op.kind == "fork":
        assert op.source is not None
        db.execute("UPDATE threads SET system = ? WHERE id = ?", (op.source.system, tid))
        for exchange in op.source.exchanges:
            _insert(db, tid, rev, exchange)


def _record(
    db: sqlite3.Connection, tid: int, rev: int, exchange: Exchange, blobs: tuple[Blob, ...]
) -> None:
    # A re-run cell replaces its exchange where it stands, whichever kernel wrote it.
    if exchange.cell_id is not None:
        replaced = db.execute(
            "UPDATE exchanges SET rev = ?, turn_id = ?, created = ?, parts = ? "
            "WHERE thread = ? AND cell_id = ? RETURNING id",
            (rev, exchange.turn_id, exchange.created, encode_parts(exchange), tid,
             exchange.cell_id),
        ).fetchall()  # fmt: skip
        for (rowid,) in replaced:
            attachments.unlink(db, rowid)  # then tied again: the bytes come with the exchange
            attachments.link(db, rowid, exchange.images, blobs)
        if replaced:
            return
    _insert(db, tid, rev, exchange, blobs)


def _insert(
    db: sqlite3.Connection, tid: int, rev: int, exchange: Exchange, blobs: tuple[Blob, ...] = ()
) -> None:
    (rowid,) = db.execute(
        "INSERT INTO exchanges (thread, rev, cell_id, turn_id, created, parts) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (tid, rev, exchange.cell_id, exchange.turn_id, exchange.created, encode_parts(exchange)),
    ).fetchone()
    attachments.link(db, rowid, exchange.images, blobs)


def adopt(db: sqlite3.Connection, notebook: str, old: str) -> tuple[list[str], list[str]]:
    """Move `old`'s threads to `notebook`; (moved names, names in use here and left behind)."""
    theirs = names(db, old)
    ours = {
        name: count
        for name, count in db.execute(
            "SELECT t.name, (SELECT count(*) FROM exchanges e WHERE e.thread = t.id) "
            "FROM threads t WHERE t.notebook = ?",
            (notebook,),
        )
    }
    clashes = [name for name in theirs if ours.get(name)]
    moved = [name for name in theirs if name not in clashes]
    for name in moved:
        # An empty thread of the same name here (a system prompt at most) gives way.
        db.execute("DELETE FROM threads WHERE notebook = ? AND name = ?", (notebook, name))
        db.execute(
            "UPDATE threads SET notebook = ?, epoch = epoch + 1, rev = rev + 1 "
            "WHERE notebook = ? AND name = ?",
            (notebook, old, name),
        )
    return moved, clashes
