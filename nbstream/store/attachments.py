"""Attachments kept by content hash: the cache keys an inline image by its sha256, and the
conversation store keeps its bytes once, in the `images` table, under that hash.

An exchange names its images in order: `sha256:<hex>` for bytes in the table, or the URL of an
image sent as a URL. When the history is sent again the parts are rebuilt from those names;
an image whose bytes cannot be read is left out (its placeholder stays in the text).
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Migration 2 of the conversation store (see rows.MIGRATIONS). The triggers delete an image
#: with its last exchange, however the exchange goes (undo, reset, fork, a re-run cell).
MIGRATION = (
    """CREATE TABLE images (
    sha256 TEXT PRIMARY KEY,  -- of the bytes: exchanges name it as sha256:<hex>
    media_type TEXT NOT NULL,
    data BLOB NOT NULL
    )""",
    """CREATE TABLE exchange_images (
    exchange INTEGER NOT NULL,  -- exchanges.id
    sha256 TEXT NOT NULL,       -- images.sha256
    PRIMARY KEY (exchange, sha256)
    ) WITHOUT ROWID""",
    "CREATE INDEX exchange_images_by_image ON exchange_images (sha256)",
    """CREATE TRIGGER exchange_gone AFTER DELETE ON exchanges BEGIN
    DELETE FROM exchange_images WHERE exchange = old.id;
    END""",
    """CREATE TRIGGER image_unused AFTER DELETE ON exchange_images BEGIN
    DELETE FROM images WHERE sha256 = old.sha256
    AND NOT EXISTS (SELECT 1 FROM exchange_images WHERE sha256 = old.sha256);
    END""",
)
_HASHED = "sha256:"


@dataclass(frozen=True)
class Blob:
    """An inline image's bytes, as kept in the `images` table."""

    digest: str
    media_type: str
    data: bytes


def by_hash(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`messages` with each inline image replaced by `sha256:<hex>` of its bytes."""
    return [{**m, "content": [_hashed(p) for p in m["content"]]}
            if isinstance(m.get("content"), list) else m for m in messages]  # fmt: skip


def _hashed(part: Any) -> Any:
    url = part.get("image_url", {}).get("url", "") if isinstance(part, dict) else ""
    if not url.startswith("data:"):
        return part
    data = base64.b64decode(url.partition(",")[2])
    return {**part, "image_url": {"url": f"{_HASHED}{hashlib.sha256(data).hexdigest()}"}}


def kept(parts: Iterable[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[Blob, ...]]:
    """The names of a message's image parts, in order, and the bytes of its inline ones."""
    names: list[str] = []
    blobs: list[Blob] = []
    for part in parts:
        url = part["image_url"]["url"]
        if not url.startswith("data:"):
            names.append(url)
            continue
        header, _, encoded = url.partition(",")
        data = base64.b64decode(encoded)
        blobs.append(Blob(hashlib.sha256(data).hexdigest(), header[5:].split(";")[0], data))
        names.append(_HASHED + blobs[-1].digest)
    return tuple(names), tuple(blobs)


def hashed(names: Iterable[str]) -> list[str]:
    """The digests of the names kept in the `images` table."""
    return [name[len(_HASHED) :] for name in names if name.startswith(_HASHED)]


def parts(names: Sequence[str], blobs: Mapping[str, Blob]) -> list[dict[str, Any]]:
    """The image parts named by `names`, rebuilt from `blobs` (one missing is left out)."""
    urls = []
    for name in names:
        blob = blobs.get(name[len(_HASHED) :]) if name.startswith(_HASHED) else None
        if blob is not None:
            encoded = base64.b64encode(blob.data).decode()
            urls.append(f"data:{blob.media_type};base64,{encoded}")
        elif not name.startswith(_HASHED):
            urls.append(name)
    return [{"type": "image_url", "image_url": {"url": url}} for url in urls]


def link(
    db: sqlite3.Connection, exchange: int, names: Sequence[str], blobs: Sequence[Blob]
) -> None:
    """Keep `blobs` (once each) and tie exchange row `exchange` to the images it names."""
    db.executemany("INSERT OR IGNORE INTO images VALUES (?, ?, ?)",
                   [(b.digest, b.media_type, b.data) for b in blobs])  # fmt: skip
    db.executemany("INSERT OR IGNORE INTO exchange_images VALUES (?, ?)",
                   [(exchange, digest) for digest in hashed(names)])  # fmt: skip


def unlink(db: sqlite3.Connection, exchange: int) -> None:
    """Untie exchange row `exchange` from its images (one no longer named goes with it)."""
    db.execute("DELETE FROM exchange_images WHERE exchange = ?", (exchange,))


def load(db: sqlite3.Connection, digests: Sequence[str]) -> dict[str, Blob]:
    """The kept images among `digests`, by digest."""
    found: dict[str, Blob] = {}
    for start in range(0, len(digests), 500):  # under SQLite's limit of bound values
        chunk = digests[start : start + 500]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT sha256, media_type, data FROM images WHERE sha256 IN ({marks})"
        found.update({row[0]: Blob(*row) for row in db.execute(query, chunk)})
    return found
