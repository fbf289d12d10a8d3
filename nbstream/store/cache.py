"""The response cache: record complete replies, replay them without asking the model again.

Modes (`%chat cache MODE`, `%%chat --cache MODE`, `cache=` in Python, `NbStream.cache`,
`$NBSTREAM_CACHE`; default off):

    off      the cache is neither read nor written
    record   every request goes to the model; each complete reply is stored
    replay   a stored reply is replayed; a miss goes to the model and is stored
    strict   a stored reply is replayed; a miss is an error and nothing is sent (for CI)

A reply is stored under the sha256 of canonical JSON (sorted keys, no whitespace, ASCII) of:

    v         the key format, 1
    host      the server: the host (and port, unless the scheme's default) of the base URL or
              Azure endpoint, lowercased; no scheme, user info or path. "offline-demo" for the
              built-in demo server, whose port changes with every kernel.
    model     the model name as requested
    messages  everything sent: system prompt, history, prompt
    params    the request parameters: temperature, max_tokens, top_p, seed, -p KEY=VALUE ...

Not in the key, because they do not change the answer: the API key (stored nowhere), timeouts,
retries, streaming or not, the thread's name, the cell. Only complete replies are stored.

The store is one SQLite file, `.nbstream/cache.sqlite` beside the notebook, under the same
connection rules as the conversations (db.py: 0600, WAL or the rollback journal on network
filesystems, a busy timeout), so several kernels write at once; each reply is one transaction,
so a crash loses at most the reply being written. A file that is not a usable nbstream cache is
reported with a `CacheError` and never changed or deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..engine.result import ChatResult, Status
from ..errors import CacheError, CacheMissError
from ..settings import OPENAI_URL, Settings
from .db import configure, connect, journal_mode_for, transaction
from .paths import short_path

FORMAT = "nbstream-cache"
VERSION = 1
KEY_VERSION = 1
#: Seconds a writer waits for another kernel's transaction before giving up.
BUSY_TIMEOUT = 10.0
OFFLINE_HOST = "offline-demo"
_SQLITE_HEADER = b"SQLite format 3\x00"
_SCHEMA = """
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


@dataclass(frozen=True)
class CacheRequest:
    """What a reply is stored under: see the module docstring."""

    host: str
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]

    def canonical(self) -> str:
        """The JSON that is hashed; raises CacheError for parameters that are not JSON."""
        record = {
            "v": KEY_VERSION,
            "host": self.host,
            "model": self.model,
            "messages": self.messages,
            "params": self.params,
        }
        try:
            return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise CacheError(
                f"cannot cache this request: {exc}",
                "cached requests need JSON parameters (text, numbers, lists, dicts)",
            ) from None

    @property
    def key(self) -> str:
        """The sha256 the reply is stored under."""
        return hashlib.sha256(self.canonical().encode("ascii")).hexdigest()

    @property
    def preview(self) -> str:
        """The prompt's first line, at most 60 characters."""
        prompts = [m.get("content") for m in self.messages if m.get("role") == "user"]
        return _first_line(str(prompts[-1] or "") if prompts else "")


def key_for(host: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """The cache key of a request."""
    return CacheRequest(host, model, messages, params).key


def cache_host(settings: Settings) -> str:
    """The `host` part of the key for these settings."""
    if settings.offline:
        return OFFLINE_HOST
    url = settings.azure_endpoint or settings.base_url or OPENAI_URL
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = (parts.hostname or url).lower()
    with contextlib.suppress(ValueError):
        port = parts.port
        if port is not None and port != {"http": 80, "https": 443}.get(parts.scheme):
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


@dataclass(frozen=True)
class Entry:
    """A stored reply."""

    key: str
    created: float
    result: ChatResult


@dataclass(frozen=True)
class EntrySummary:
    """One line of `%chat cache list`."""

    key: str
    created: float
    model: str
    preview: str
    prompt_tokens: int
    completion_tokens: int


def cache_path(notebook: Path | None) -> Path:
    """`.nbstream/cache.sqlite` beside the notebook, else in the current directory."""
    return (notebook.parent if notebook else Path.cwd()) / ".nbstream" / "cache.sqlite"


class ResponseCache:
    """Complete replies in one SQLite file; safe for several kernels at once."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._mode = journal_mode_for(self.path)
        self._checked = False  # the pages were checked once by this kernel
        self._lock = threading.Lock()  # guards the kept connection: turns end on many threads
        self._db: sqlite3.Connection | None = None
        self._ident: tuple[int, int] | None = None  # device and inode `_db` was opened on

    @property
    def where(self) -> str:
        """The path as shown to the user: relative to the current directory when inside it."""
        return short_path(self.path)

    def get(self, key: str) -> Entry | None:
        """The reply stored under `key`, if any."""
        with self._connect(write=False) as db:
            row = db.execute("SELECT created, result FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return Entry(key, row[0], ChatResult.from_dict(self._json(row[1])))
        except (TypeError, ValueError, KeyError) as exc:
            raise self._unusable(f"is damaged (a stored reply cannot be read: {exc})") from None

    def put(self, request: CacheRequest, result: ChatResult) -> None:
        """Store a complete reply under the request's key, replacing any older one."""
        if result.status is not Status.COMPLETE or result.replayed:
            raise ValueError(f"only complete live replies are stored, not {result.status.value}")
        row = {
            "key": request.key,
            "created": self._clock(),
            "model": request.model,
            "host": request.host,
            "preview": request.preview,
            "request": request.canonical(),
            "result": json.dumps(result.to_dict()),
        }
        with self._connect(write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO replies VALUES "
                "(:key, :created, :model, :host, :preview, :request, :result)",
                row,
            )

    def entries(self) -> list[EntrySummary]:
        """Every stored reply, oldest first."""
        with self._connect(write=False) as db:
            rows = db.execute(
                "SELECT key, created, model, preview, result FROM replies ORDER BY created"
            ).fetchall()
        summaries = []
        for key, created, model, preview, result in rows:
            usage = self._json(result).get("usage") or {}
            tokens = (usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
            summaries.append(EntrySummary(key, created, model, preview, *tokens))
        return summaries

    def clear(self, older_than: timedelta | None = None) -> int:
        """Remove the replies recorded more than `older_than` ago (all with None); the count."""
        cutoff = float("inf") if older_than is None else self._clock() - older_than.total_seconds()
        if not self.path.exists():
            return 0
        with self._connect(write=True) as db:
            return db.execute("DELETE FROM replies WHERE created < ?", (cutoff,)).rowcount

    def close(self) -> None:
        """Close the kept connection (the next use opens a new one)."""
        with self._lock:
            self._forget()

    def check(self) -> None:
        """Open (creating it if needed) and validate the store: raises CacheError if unusable."""
        with self._connect(write=True):
            pass

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction on the validated store. Writing creates the store if needed; reading
        one that does not exist yet gets an empty one in memory."""
        if not write and not self.path.exists():
            with contextlib.closing(sqlite3.connect(":memory:")) as empty:
                empty.executescript(_SCHEMA)
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
            raise self._unusable(f"is damaged (sqlite: {' '.join(problem.split())})")
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
            raise self._unusable("is not an SQLite database")

    def _create_tables(self, db: sqlite3.Connection) -> None:
        with transaction(db):  # two kernels making it at once: the second finds it made
            if _tables(db):
                return
            for statement in filter(str.strip, _SCHEMA.split(";")):
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
            raise self._unusable("is an SQLite database but not an nbstream response cache")
        meta = dict(db.execute("SELECT name, value FROM nbstream_cache").fetchall())
        if meta.get("format") != FORMAT:
            raise self._unusable("is not an nbstream response cache")
        version = str(meta.get("version", ""))
        if not version.isdigit():
            raise self._unusable(f"is damaged (bad version {version!r})")
        if int(version) > VERSION:
            raise self._unusable(
                f"was written by a newer nbstream (cache format {version})", "upgrade nbstream, or"
            )
        if "replies" not in tables:
            raise self._unusable("is damaged (its replies table is missing)")

    def _json(self, text: str) -> dict[str, Any]:
        try:
            record = json.loads(text)
        except (TypeError, ValueError):
            record = None
        if not isinstance(record, dict):
            raise self._unusable("is damaged (a stored reply is not JSON)")
        return record

    def _damaged(self, exc: sqlite3.Error) -> CacheError:
        name = getattr(exc, "sqlite_errorname", "")
        if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(exc):
            return CacheError(
                f"the response cache {self.where} stayed locked by another process "
                f"for {BUSY_TIMEOUT:g} s",
                "run the cell again when the other kernel is done writing",
            )
        return self._unusable(f"cannot be used (sqlite: {exc})")

    def _unusable(self, problem: str, fix: str = "") -> CacheError:
        shown = self.where
        return CacheError(
            f"the response cache {shown} {problem}; nbstream leaves it as it is",
            f"{fix + ' ' if fix else ''}move it aside to start a new cache "
            f"(mv {shown} {shown}.old), or turn the cache off: %chat cache off",
        )


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _first_line(text: str, width: int = 60) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def miss_error(request: CacheRequest, cell_id: str | None, where: str) -> CacheMissError:
    """Strict mode's error for a request with no stored reply: names the cell and the prompt."""
    cell = f"cell {cell_id}, " if cell_id else ""
    return CacheMissError(
        f"strict cache: no recorded reply for {cell}prompt {request.preview!r} "
        f"in {where}; nothing was sent",
        "record it first (%chat cache record, or NBSTREAM_CACHE=record); a changed prompt, "
        "history, model, parameter or server is a new request",
    )


def parse_age(text: str) -> timedelta:
    """'90s', '30m', '12h', '7d', '2w' as a timedelta; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match is None:
        raise ValueError(f"not an age: {text!r} (use e.g. 90s, 30m, 12h, 7d, 2w)")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    return timedelta(**{unit[match.group(2)]: float(match.group(1))})
