"""The response cache: record complete replies, replay them without asking the model again.

Modes (`%chat cache MODE`, `%%chat --cache MODE`, `cache=` in Python, `NbStream.cache`,
`$NBSTREAM_CACHE`; default off):

    off      the cache is neither read nor written
    record   every request goes to the model; each complete reply is stored
    replay   a stored reply is replayed; a miss goes to the model and is stored
    strict   a stored reply is replayed; a miss is an error and nothing is sent (for CI)

Only complete replies are stored, under the sha256 of what was sent (cache_key.py says exactly
what), in one SQLite file, `.nbstream/cache.sqlite` beside the notebook (cache_file.py: how it
is opened and checked). Each reply is one transaction, so a crash loses at most the reply
being written.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..engine.result import ChatResult, Status
from .cache_file import CacheFile
from .cache_key import CacheRequest


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
        self._file = CacheFile(self.path)
        self._clock = clock

    @property
    def where(self) -> str:
        """The path as shown to the user: relative to the current directory when inside it."""
        return self._file.where

    def get(self, key: str) -> Entry | None:
        """The reply stored under `key`, if any."""
        with self._file.connect(write=False) as db:
            row = db.execute("SELECT created, result FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return Entry(key, row[0], ChatResult.from_dict(self._json(row[1])))
        except (TypeError, ValueError, KeyError) as exc:
            raise self._file.unusable(
                f"is damaged (a stored reply cannot be read: {exc})"
            ) from None

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
        with self._file.connect(write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO replies VALUES "
                "(:key, :created, :model, :host, :preview, :request, :result)",
                row,
            )

    def entries(self) -> list[EntrySummary]:
        """Every stored reply, oldest first."""
        with self._file.connect(write=False) as db:
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
        with self._file.connect(write=True) as db:
            return db.execute("DELETE FROM replies WHERE created < ?", (cutoff,)).rowcount

    def close(self) -> None:
        """Close the kept connection (the next use opens a new one)."""
        self._file.close()

    def check(self) -> None:
        """Open (creating it if needed) and validate the store: raises CacheError if unusable."""
        with self._file.connect(write=True):
            pass

    def _json(self, text: str) -> dict[str, Any]:
        try:
            record = json.loads(text)
        except (TypeError, ValueError):
            record = None
        if not isinstance(record, dict):
            raise self._file.unusable("is damaged (a stored reply is not JSON)")
        return record


def parse_age(text: str) -> timedelta:
    """'90s', '30m', '12h', '7d', '2w' as a timedelta; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match is None:
        raise ValueError(f"not an age: {text!r} (use e.g. 90s, 30m, 12h, 7d, 2w)")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    return timedelta(**{unit[match.group(2)]: float(match.group(1))})
