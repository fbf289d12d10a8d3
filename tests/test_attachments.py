"""What the cache keys an attached image by: its bytes' sha256, not its base64 text."""

from __future__ import annotations

import base64
import hashlib

from nbstream.store.attachments import by_hash


def image(data: bytes) -> dict:
    url = f"data:image/png;base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def test_inline_images_become_their_hash_and_everything_else_stays() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, image(b"\x89PNG1"),
                                     {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]},
    ]  # fmt: skip
    hashed = by_hash(messages)
    digest = hashlib.sha256(b"\x89PNG1").hexdigest()
    assert hashed[0] == messages[0]
    assert hashed[1]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"sha256:{digest}"}},
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
    ]
    assert messages[1]["content"][1] == image(b"\x89PNG1")  # the request itself is unchanged


def test_different_images_have_different_keys() -> None:
    one, two = by_hash([{"content": [image(b"a")]}]), by_hash([{"content": [image(b"b")]}])
    assert one != two
