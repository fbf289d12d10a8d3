"""Per-notebook conversation threads, kept in one SQLite database per notebook folder.

Every change is one transaction (see rows.py), so a turn costs the same at any thread length,
and several kernels on one notebook keep each other's turns. A change that cannot be written
(disk full, read-only folder, a lock held too long) stays in memory, `problem` says why, and it
is written with the next change that can be. A database that cannot be used is set aside.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..engine.result import ChatResult
from ..errors import StateFileError, ThreadBusyError
from . import db as sql
from . import rows
from .migrate import import_legacy
from .paths import short_path
from .records import DEFAULT, Exchange, Thread, as_json, markdown, reply_content, summary
from .rows import Delta, Known, Op

__all__ = ["DEFAULT", "ConversationStore", "Exchange", "Thread"]
#: Seconds a write waits for another kernel's transaction before it is "not saved".
BUSY_TIMEOUT = 5.0


class ConversationStore:
    """Named conversation threads of one notebook, in a database or in memory only.

    Every public method holds one re-entrant lock (it guards `_known`, `_unsaved`, `_db`),
    so a chat panel's worker thread and the cells on the main thread can share a store.
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
        self._path = Path(path) if path is not None else None
        self._notebook, self._clock, self._timeout = notebook, clock, timeout
        self._lock = threading.RLock()
        self._known: dict[str, Known] = {}
        self._unsaved: list[Op] = []  # changes in memory, not yet written, in order
        self._busy: set[str] = set()  # threads with a turn in flight, under `_turns`
        self._turns = threading.Lock()  # never held across I/O: the loop thread takes it
        self._db: sqlite3.Connection | None = None
        self.journal_mode = "memory" if path is None else sql.journal_mode_for(path, mounts)
        self.warnings: list[str] = []
        self.problem: str | None = None  # why the last write failed; None once one succeeds
        self.restored = 0
        if self._path is None:
            self._db = _memory()

    @classmethod
    def open(
        cls, path: Path, *, notebook: str, legacy: Path | None = None, **options: Any
    ) -> ConversationStore:
        """The store of `notebook` in the database at `path`, after importing its `legacy`
        JSON file if there is one; never raises for a bad file."""
        store = cls(path, notebook=notebook, **options)
        with store._lock:
            store._load(legacy)
        return store

    @property
    def path(self) -> Path | None:
        """The database changes are written to, or None when the store is in memory only."""
        return self._path

    @property
    def unsaved(self) -> int:
        """How many changes are only in memory."""
        return len(self._unsaved)

    def thread(self, name: str = DEFAULT) -> Thread:
        """A snapshot copy of a thread as committed by any kernel (empty if it does not exist)."""
        with self._lock:
            self._refresh(name)
            return self._view(name)

    def threads(self) -> list[str]:
        """Thread names in the order they were created."""
        with self._lock:
            found = list(self._known)
            with contextlib.suppress(OSError, sqlite3.Error):  # then what this kernel knows
                found = rows.names(self._connection(), self._notebook)
            pending = [op.thread for op in self._unsaved if op.kind in ("record", "system")]
            return list(dict.fromkeys([*found, *pending]))

    def messages(
        self, name: str, user: str, *, limit: int | None = None, cell_id: str | None = None
    ) -> list[dict[str, Any]]:
        """System prompt, past exchanges (before `cell_id`'s, the last `limit`), then `user`.
        An assistant message keeps its reasoning items for the APIs that want them back."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        thread = self.thread(name)
        history = thread.exchanges
        index = _index_of(history, cell_id)
        if index is not None:  # a re-run cell gets the context it first saw
            history = history[:index]
        pairs = [(ex, reply) for ex in history if (reply := reply_content(ex.result))]
        if limit is not None:
            pairs = pairs[-limit:] if limit else []
        sent: list[dict[str, Any]] = []
        if thread.system:
            sent.append({"role": "system", "content": thread.system})
        for ex, reply in pairs:
            items = {"reasoning_items": list(ex.result.reasoning_items)}
            answer = {
                "role": "assistant",
                "content": reply,
                **(items if items["reasoning_items"] else {}),
            }
            sent += [{"role": "user", "content": ex.user}, answer]
        sent.append({"role": "user", "content": user})
        return sent

    def summary(self, name: str = DEFAULT) -> str:
        """One line such as '3 turns, 1 interrupted'."""
        return summary(self.thread(name).exchanges)

    def set_system(self, name: str, text: str | None) -> None:
        """Set or clear (None or '') the thread's system prompt."""
        self._change(Op("system", _named(name), system=text or None))

    def record(
        self,
        name: str,
        user: str,
        result: ChatResult,
        *,
        cell_id: str | None = None,
        turn_id: str | None = None,
    ) -> Exchange:
        """Append an exchange; one with the same `cell_id` is replaced where it stands."""
        exchange = Exchange(user, result, cell_id=cell_id, created=self._clock())
        if turn_id:
            exchange = replace(exchange, turn_id=turn_id)
        self._change(Op("record", _named(name), exchange=exchange))
        return exchange

    def fork(self, name: str, new_name: str) -> None:
        """Make `new_name` a copy of thread `name` (system prompt and exchanges), replacing it."""
        with self._lock:
            self._change(Op("fork", _named(new_name), source=self.thread(name)))

    def undo(self, name: str = DEFAULT) -> Exchange | None:
        """Remove and return the thread's last exchange (None if it has none)."""
        with self._lock:
            exchanges = self.thread(name).exchanges
            if not exchanges:
                return None
            self._change(Op("undo", name))
            return exchanges[-1]

    def reset(self, name: str = DEFAULT) -> None:
        """Forget the thread's exchanges; its system prompt stays."""
        with self._lock:
            if self.thread(name).exchanges:
                self._change(Op("reset", name))

    def unsaved_problem(self) -> str | None:
        """Why changes are held in memory, or None when everything is written.

        Read under the lock: a turn ending on another thread may be mid-write, and its changes
        count as unsaved only once the write has failed.
        """
        with self._lock:
            return self.problem if self._unsaved else None

    def save(self) -> bool:
        """Write what is only in memory; True when nothing is left unsaved."""
        with self._lock:
            return self._flush(set())

    def write_all(self, ops: list[Op]) -> bool:
        """Write `ops` in one transaction; on failure they are dropped and False returned."""
        with self._lock:
            self._unsaved += ops
            if self._flush(set()):
                return True
            del self._unsaved[len(self._unsaved) - len(ops) :]
            return False

    def adopt(self, old: str) -> list[str]:
        """Take over the threads of notebook `old` (a renamed or moved notebook's old name)."""
        with self._lock:
            try:
                with sql.transaction(self._connection()) as db:
                    moved, clashes = rows.adopt(db, self._notebook, old)
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

    @contextlib.contextmanager
    def turn(self, name: str = DEFAULT) -> Iterator[None]:
        """Guard one in-flight turn per thread; a second one raises ThreadBusyError at once."""
        with self._turns:
            if name in self._busy:
                raise ThreadBusyError(
                    f"a reply is already streaming on thread {name!r}",
                    hint="wait for it to finish or press Stop, or use another thread (-t NAME)",
                )
            self._busy.add(name)
        try:
            yield
        finally:
            with self._turns:
                self._busy.discard(name)

    def export_markdown(self, name: str = DEFAULT) -> str:
        """A readable transcript of the thread."""
        return markdown(self.thread(name))

    def export_json(self, name: str = DEFAULT) -> str:
        """The thread as JSON, results in `ChatResult.to_dict()` form."""
        return as_json(self.thread(name))

    def export(self, path: Path | str, name: str = DEFAULT) -> Path:
        """Write the thread to `path` as Markdown (.md, .markdown) or JSON (.json)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".md", ".markdown"):
            text = self.export_markdown(name)
        elif suffix == ".json":
            text = self.export_json(name)
        else:
            raise ValueError(f"cannot export to {path.name!r}: use a .md or .json file name")
        write_atomic(path, text)
        return path

    # ---- memory and database, under the lock

    def _view(self, name: str) -> Thread:
        known = self._known.get(name)
        thread = Thread(name, known.system, list(known.rows.values())) if known else Thread(name)
        for op in self._unsaved:
            if op.thread == name:
                _apply(thread, op)
        return thread

    def _change(self, op: Op) -> None:
        with self._lock:
            self._unsaved.append(op)
            self._flush({op.thread})

    def _refresh(self, name: str) -> None:
        """Pick up what other kernels committed to `name` (and write what is unsaved)."""
        if self._unsaved:
            self._flush({name})
            return
        try:
            with sql.transaction(self._connection(), write=False) as db:
                delta = rows.fetch(db, self._notebook, name, self._known.get(name))
        except (OSError, sqlite3.Error) as exc:
            self.problem = sql.problem(exc)  # reading failed: carry on with what we know
            return
        self._merge(name, delta)

    def _flush(self, names: set[str]) -> bool:
        ops = list(self._unsaved)
        names = names | {op.thread for op in ops}
        try:
            with sql.transaction(self._connection()) as db:
                for op in ops:
                    rows.apply(db, self._notebook, op)
                mine = {op.exchange.turn_id: op.exchange for op in ops if op.exchange}
                known = self._known
                deltas = {n: rows.fetch(db, self._notebook, n, known.get(n), mine) for n in names}
        except (OSError, sqlite3.Error) as exc:
            self.problem = sql.problem(exc)
            if getattr(exc, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
                self._close()  # reconnect next time: this connection stays read-only
            return False
        del self._unsaved[: len(ops)]
        self.problem = None
        for name, delta in deltas.items():
            self._merge(name, delta)
        return True

    def _merge(self, name: str, delta: Delta | None) -> None:
        if delta is None:
            return
        self.warnings += delta.invalid
        if not delta.exists:
            self._known.pop(name, None)
            return
        known = self._known.get(name)
        if delta.full or known is None:
            known = self._known[name] = Known(delta.tid, delta.system, delta.rev, delta.epoch)
        known.system, known.rev, known.epoch = delta.system, delta.rev, delta.epoch
        for rowid, exchange in delta.rows:
            if exchange is None:
                known.rows.pop(rowid, None)
            else:
                known.rows[rowid] = exchange

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            assert self._path is not None
            db = sql.connect(self._path, timeout=self._timeout)
            try:
                sql.migrate(db, rows.MIGRATIONS, table="exchanges")
                sql.configure(db, self._path, self.journal_mode)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _load(self, legacy: Path | None) -> None:
        shown = short_path(self._path) if self._path else "memory"
        for _ in range(2):  # the second time on a fresh database, after setting one aside
            try:
                self._read_all()
                break
            except (sqlite3.OperationalError, OSError) as exc:
                self._close()
                self.warnings.append(
                    f"nbstream: could not open {shown} ({sql.problem(exc)}); "
                    "changes are kept in memory and written once it can be opened"
                )
                break
            except (sqlite3.DatabaseError, sql.SchemaError) as exc:
                self._close()
                self._set_aside(exc)
        if legacy is not None:
            import_legacy(self, legacy, self._clock())
        self.restored = sum(len(k.rows) for k in self._known.values())

    def _read_all(self) -> None:
        with sql.transaction(self._connection(), write=False) as db:
            deltas = {
                n: rows.fetch(db, self._notebook, n, None) for n in rows.names(db, self._notebook)
            }
        for name, delta in deltas.items():
            self._merge(name, delta)

    def _set_aside(self, exc: BaseException) -> None:
        assert self._path is not None
        reason = exc.reason if isinstance(exc, sql.SchemaError) else "damaged"
        said = str(exc) if isinstance(exc, sql.SchemaError) else f"could not be read ({exc})"
        shown = short_path(self._path)
        try:
            kept = sql.set_aside(self._path, reason, self._clock())
        except OSError as err:
            # Writing now would overwrite the only copy of what we could not read.
            self._path, self.journal_mode = None, "memory"
            self._db = _memory()
            self.warnings.append(
                f"nbstream: {shown} {said} and could not be set aside ({err}); "
                "starting a fresh conversation that will not be saved"
            )
            return
        self.warnings.append(
            f"nbstream: {shown} {said}; set aside as {kept.name}; starting a fresh conversation"
        )

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _memory() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    sql.migrate(db, rows.MIGRATIONS, table="exchanges")
    return db


def _named(name: str) -> str:
    if not name:
        raise ValueError("a thread name cannot be empty")
    return name


def _apply(thread: Thread, op: Op) -> None:
    """Apply an unsaved change to this kernel's view of a thread."""
    if op.kind == "record":
        assert op.exchange is not None
        index = _index_of(thread.exchanges, op.exchange.cell_id)
        if index is None:
            thread.exchanges.append(op.exchange)
        else:
            thread.exchanges[index] = op.exchange
    elif op.kind == "system":
        thread.system = op.system
    elif op.kind == "undo" and thread.exchanges:
        thread.exchanges.pop()
    elif op.kind == "reset":
        thread.exchanges.clear()
    elif op.kind == "fork":
        assert op.source is not None
        thread.system, thread.exchanges = op.source.system, list(op.source.exchanges)


def _index_of(exchanges: list[Exchange], cell_id: str | None) -> int | None:
    if cell_id is None:
        return None
    return next((i for i, ex in enumerate(exchanges) if ex.cell_id == cell_id), None)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step; no temp file survives a failure."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # Prompts and replies are private; mkstemp's 0600 is asserted, not assumed.
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def shown(store: ConversationStore) -> str:
    """Where the store keeps its threads, for `%chat config` and messages."""
    if store.path is None:
        return "in memory only"
    return f"{short_path(store.path)} (journal {store.journal_mode})"
