"""Per-notebook conversation threads, kept in one SQLite database per notebook folder.

Every change is one transaction (see rows.py), so a turn costs the same at any thread length,
and several kernels on one notebook keep each other's turns. A change that cannot be written
(disk full, read-only folder, a lock held too long) stays in memory, `problem` says why, and it
is written with the next change that can be. A database that cannot be used is set aside.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from ..engine.result import ChatResult
from ..errors import StateFileError
from . import attachments, memory, rows
from . import db as sql
from .database import Database
from .migrate import import_legacy
from .records import DEFAULT, Exchange, Thread, as_json, summary
from .rows import Op
from .turns import Turns

__all__ = ["DEFAULT", "ConversationStore", "Exchange", "Thread"]
#: Seconds a write waits for another kernel's transaction before it is "not saved".
BUSY_TIMEOUT = 5.0


class ConversationStore:
    """Named conversation threads of one notebook, in a database or in memory only.

    Every public method but `latest` and `turn` holds one re-entrant lock (it guards
    `_memory` and `_file`), so a chat panel's worker thread and the cells on the main
    thread can share a store. The lock is held across disk I/O: never taken on the loop.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        notebook: str = "",
        clock: Callable[[], float] = time.time,
        timeout: float = BUSY_TIMEOUT,
        mounts: str | None = None,
    ) -> None:
        self._notebook, self._clock = notebook, clock
        self._lock = threading.RLock()
        self._memory = memory.Memory()
        self._file = Database(Path(path) if path is not None else None, timeout=timeout,
                              mounts=mounts)  # fmt: skip
        self._turns = Turns()  # taken on the loop thread too: it does no I/O
        self.warnings: list[str] = []
        self.problem: str | None = None  # why the last write failed; None once one succeeds
        self.restored = 0

    @classmethod
    def open(
        cls, path: Path, *, notebook: str, legacy: Path | None = None, **options: Any
    ) -> ConversationStore:
        """The store of `notebook` in the database at `path`, after importing its `legacy`
        JSON file if there is one; never raises for a bad file."""
        store = cls(path, notebook=notebook, **options)
        with store._locked():
            store._load(legacy)
        return store

    @property
    def path(self) -> Path | None:
        """The database changes are written to, or None when the store is in memory only."""
        return self._file.path

    @property
    def journal_mode(self) -> str:
        """'wal', 'delete' (on a network filesystem) or 'memory' (no file)."""
        return self._file.journal_mode

    @property
    def unsaved(self) -> int:
        """How many changes are only in memory."""
        return len(self._memory.unsaved)

    def thread(self, name: str = DEFAULT) -> Thread:
        """A snapshot copy of a thread as committed by any kernel (empty if it does not exist)."""
        with self._locked():
            self._refresh(name)
            return self.latest(name)

    def latest(self, name: str = DEFAULT) -> Thread:
        """The thread as this kernel last read or wrote it: no disk I/O and no waiting for
        the lock, so it may be called on nbstream's loop thread. A copy."""
        known = self._memory.latest(name)
        return Thread(known.name, known.system, list(known.exchanges))

    def threads(self) -> list[str]:
        """Thread names in the order they were created."""
        with self._locked():
            found = list(self._memory.known)
            with contextlib.suppress(OSError, sqlite3.Error):  # then what this kernel knows
                found = rows.names(self._file.connection(), self._notebook)
            unsaved = self._memory.unsaved
            pending = [op.thread for op in unsaved if op.kind in ("record", "system")]
            return list(dict.fromkeys([*found, *pending]))

    def messages(
        self, name: str, user: str, *, limit: int | None = None, cell_id: str | None = None
    ) -> list[dict[str, Any]]:
        """System prompt, past exchanges (before `cell_id`'s, the last `limit`), then `user`.
        Assistant messages keep their reasoning items, user messages their images."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        with self._locked():
            self._refresh(name)
            parts = partial(self._file.image_parts, pending=self._memory.blobs())
            return memory.messages(self._memory.latest(name), user, limit, cell_id, parts)

    def summary(self, name: str = DEFAULT) -> str:
        """One line such as '3 turns, 1 interrupted'."""
        return summary(self.thread(name).exchanges)

    def set_system(self, name: str, text: str | None) -> None:
        """Set or clear (None or '') the thread's system prompt."""
        self._change(Op("system", name, system=text or None))

    def record(
        self,
        name: str,
        user: str,
        result: ChatResult,
        *,
        cell_id: str | None = None,
        turn_id: str | None = None,
        images: Sequence[dict[str, Any]] = (),
    ) -> Exchange:
        """Append an exchange (its `images` parts kept by name); replace one of the same cell."""
        names, blobs = attachments.kept(images)
        exchange = Exchange(user, result, cell_id=cell_id, created=self._clock(), images=names)
        exchange = replace(exchange, turn_id=turn_id) if turn_id else exchange
        self._change(Op("record", name, exchange=exchange, blobs=blobs))
        return exchange

    def fork(self, name: str, new_name: str) -> None:
        """Make `new_name` a copy of thread `name` (system prompt and exchanges), replacing it."""
        with self._locked():
            self._change(Op("fork", new_name, source=self.thread(name)))

    def undo(self, name: str = DEFAULT) -> Exchange | None:
        """Remove and return the thread's last exchange (None if it has none)."""
        with self._locked():
            exchanges = self.thread(name).exchanges
            if not exchanges:
                return None
            self._change(Op("undo", name))
            return exchanges[-1]

    def reset(self, name: str = DEFAULT) -> None:
        """Forget the thread's exchanges; its system prompt stays."""
        with self._locked():
            if self.thread(name).exchanges:
                self._change(Op("reset", name))

    def unsaved_problem(self) -> str | None:
        """Why changes are held in memory, or None when everything is written.

        Read under the lock: a turn ending on another thread may be mid-write, and its changes
        count as unsaved only once the write has failed.
        """
        with self._locked():
            return self.problem if self._memory.unsaved else None

    def save(self) -> bool:
        """Write what is only in memory; True when nothing is left unsaved."""
        with self._locked():
            return self._flush(set())

    def write_all(self, ops: list[Op]) -> bool:
        """Write `ops` in one transaction; on failure they are dropped and False returned."""
        with self._locked():
            unsaved = self._memory.unsaved
            unsaved += ops
            if self._flush(set()):
                return True
            del unsaved[len(unsaved) - len(ops) :]
            self._memory.publish({op.thread for op in ops})
            return False

    def adopt(self, old: str) -> list[str]:
        """Take over the threads of notebook `old` (a renamed or moved notebook's old name)."""
        with self._locked():
            try:
                moved, clashes = self._file.adopt(self._notebook, old)
            except (OSError, sqlite3.Error) as exc:
                raise StateFileError(f"could not adopt {old}: {sql.problem(exc)}") from None
            for name in moved:
                self._refresh(name)
        if clashes:
            raise StateFileError(
                f"adopted {len(moved)} threads of {old}; not {', '.join(map(repr, clashes))}, "
                "which this notebook already uses",
                hint="clear them here first (%chat reset -t NAME), then adopt again",
            )
        return moved

    def turn(self, name: str = DEFAULT) -> contextlib.AbstractContextManager[None]:
        """Guard one in-flight turn per thread; a second one raises ThreadBusyError at once."""
        return self._turns.guard(name)

    def export_json(self, name: str = DEFAULT) -> str:
        """The thread as JSON, results in `ChatResult.to_dict()` form."""
        return as_json(self.thread(name))

    # ---- memory and database, under the lock

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        sql.off_loop()  # waiting here may mean waiting for another thread's disk write
        with self._lock:
            yield

    def _change(self, op: Op) -> None:
        if not op.thread:
            raise ValueError("a thread name cannot be empty")
        with self._locked():
            self._memory.unsaved.append(op)
            self._flush({op.thread})

    def _refresh(self, name: str) -> None:
        """Pick up what other kernels committed to `name` (and write what is unsaved)."""
        if self._memory.unsaved:
            self._flush({name})
            return
        try:
            delta = self._file.fetch(self._notebook, name, self._memory.known.get(name))
        except (OSError, sqlite3.Error) as exc:
            self.problem = sql.problem(exc)  # reading failed: carry on with what we know
            return
        if delta is not None:  # nothing changed: the published view stands
            self.warnings += self._memory.merge(name, delta)
            self._memory.publish({name})

    def _flush(self, names: set[str]) -> bool:
        ops = list(self._memory.unsaved)
        names = names | {op.thread for op in ops}
        try:
            deltas = self._file.write(self._notebook, ops, names, self._memory.known)
        except (OSError, sqlite3.Error) as exc:
            self.problem = sql.problem(exc)
            if getattr(exc, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
                self._file.close()  # reconnect next time: this connection stays read-only
            self._memory.publish(names)  # the unsaved changes are part of the view
            return False
        del self._memory.unsaved[: len(ops)]
        self.problem = None
        for name, delta in deltas.items():
            self.warnings += self._memory.merge(name, delta)
        self._memory.publish(names)
        return True

    def _load(self, legacy: Path | None) -> None:
        for _ in range(2):  # the second time on a fresh database, after setting one aside
            try:
                self._read_all()
                break
            except (sqlite3.OperationalError, OSError) as exc:
                self._file.close()
                self.warnings.append(
                    f"nbstream: could not open {self._file.shown()} ({sql.problem(exc)}); "
                    "changes are kept in memory and written once it can be opened"
                )
                break
            except (sqlite3.DatabaseError, sql.SchemaError) as exc:
                self.warnings.append(self._file.set_aside(exc, self._clock()))
        if legacy is not None:
            import_legacy(self, legacy, self._clock())
        self.restored = self._memory.count()

    def _read_all(self) -> None:
        deltas = self._file.read_all(self._notebook)
        for name, delta in deltas.items():
            self.warnings += self._memory.merge(name, delta)
        self._memory.publish(set(deltas))


def shown(store: ConversationStore) -> str:
    """Where the store keeps its threads, for `%chat config` and messages."""
    return store._file.where()
