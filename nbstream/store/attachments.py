"""Attachments kept by content hash: an inline image is stored as its sha256, not its bytes."""

from __future__ import annotations

import base64
import hashlib
from typing import Any


def by_hash(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`messages` with each inline image replaced by `sha256:<hex>` of its bytes."""
    return [{**m, "content": [_hashed(p) for p in m["content"]]}
            if isinstance(m.get("content"), list) else m for m in messages]  # fmt: skip


def _hashed(part: Any) -> Any:
    url = part.get("image_url", {}).get("url", "") if isinstance(part, dict) else ""
    if not url.startswith("data:"):
        return part
    data = base64.b64decode(url.partition(",")[2])
    return {**part, "image_url": {"url": f"sha256:{hashlib.sha256(data).hexdigest()}"}}
