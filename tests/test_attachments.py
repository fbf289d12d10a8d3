"""Attached images by their bytes' sha256: what the cache keys them by, and how the
conversation store keeps them once and sends them again with the history."""

from __future__ import annotations

import base64
import hashlib
import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from nbstream.context import build
from nbstream.context.images import image_tokens
from nbstream.engine.result import ChatResult
from nbstream.session import Session
from nbstream.show.live import driver
from nbstream.show.surfaces import NullSurface
from nbstream.store.attachments import by_hash
from nbstream.store.rows import MIGRATIONS
from nbstream.store.threads import ConversationStore
from nbstream.turn import TurnOptions

from .conftest import demo_session
from .conftest import text as text_params


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


# ---- the conversation store keeps each image's bytes once and sends them again


def png(color: str, size: tuple[int, int] = (24, 16)) -> PILImage.Image:
    return PILImage.new("RGB", size, color)


def ask(session: Session, text: str, cell_id: str | None = None, **images: Any) -> None:
    prompt = build(text, images, budget=1000, max_side=64)
    session.chat(prompt, TurnOptions(params=text_params("ok")), driver(NullSurface()),
                 cell_id=cell_id)  # fmt: skip


def image_urls(message: dict[str, Any]) -> list[str]:
    content = message["content"]
    return [] if isinstance(content, str) else [p["image_url"]["url"] for p in content[1:]]


def counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        images = db.execute("SELECT count(*) FROM images").fetchone()[0]
        links = db.execute("SELECT count(*) FROM exchange_images").fetchone()[0]
    return images, links


@pytest.fixture
def session(server, log, monkeypatch, tmp_path: Path) -> Session:
    return demo_session(server, monkeypatch, on_disk=tmp_path)


def test_a_later_turn_sends_the_image_again_rebuilt_from_the_stored_bytes(
    session: Session, server, log, monkeypatch, tmp_path: Path
) -> None:
    ask(session, "what is {pic}?", pic=png("red"))
    (sent,) = image_urls(log.records[-1].body["messages"][-1])
    ask(session, "and its colour?")
    first, _, last = log.records[-1].body["messages"]
    assert (
        image_urls(first) == [sent] and "[image 1: image 24×16 PNG" in first["content"][0]["text"]
    )
    assert last["content"] == "and its colour?"
    restarted = demo_session(server, monkeypatch, on_disk=tmp_path)  # a new kernel: from the file
    ask(restarted, "once more")
    assert image_urls(log.records[-1].body["messages"][0]) == [sent]
    assert counts(tmp_path / "conversations.sqlite") == (1, 1)


def test_the_same_image_twice_is_one_row_and_a_reset_thread_leaves_none(
    session: Session, tmp_path: Path
) -> None:
    ask(session, "{a}", a=png("blue"))
    ask(session, "{a} {b}", a=png("blue"), b=png("green"))
    assert counts(tmp_path / "conversations.sqlite") == (2, 3)
    session.store.undo()
    assert counts(tmp_path / "conversations.sqlite") == (1, 1)
    session.store.reset()
    assert counts(tmp_path / "conversations.sqlite") == (0, 0)


def test_a_rerun_cell_keeps_only_its_new_image(session: Session, tmp_path: Path, log) -> None:
    ask(session, "{a}", cell_id="c1", a=png("blue"))
    ask(session, "{a}", cell_id="c1", a=png("green"))
    assert counts(tmp_path / "conversations.sqlite") == (1, 1)
    ask(session, "next")
    (green,) = image_urls(log.records[-1].body["messages"][0])
    assert base64.b64decode(green.partition(",")[2]) == png_bytes(png("green"))


def test_history_limit_still_applies_to_exchanges_with_images(session: Session, log) -> None:
    session.config.history_limit = 1
    ask(session, "{a}", a=png("blue"))
    ask(session, "second")
    assert image_urls(log.records[-1].body["messages"][0])  # the last exchange: its image
    ask(session, "third")
    assert not any(image_urls(m) for m in log.records[-1].body["messages"])


def test_an_image_url_is_sent_again_as_the_url(session: Session, log, tmp_path: Path) -> None:
    prompt = build("see", None, budget=100, max_side=64, attachments=["https://x.test/a.png"])
    session.chat(prompt, TurnOptions(params=text_params("ok")), driver(NullSurface()))
    ask(session, "again")
    assert image_urls(log.records[-1].body["messages"][0]) == ["https://x.test/a.png"]
    assert counts(tmp_path / "conversations.sqlite") == (0, 0)


def test_an_estimate_without_usage_counts_the_images_the_history_sends_again(
    session: Session,
) -> None:
    options = TurnOptions(model="fault-no-usage", params=text_params("ok"))
    picture = build("{a}", {"a": png("blue", (1024, 1024))}, budget=100, max_side=1024)
    session.chat(picture, options, driver(NullSurface()))
    later = session.chat(
        build("again", None, budget=100, max_side=64), options, driver(NullSurface())
    )
    assert later.usage.estimated and later.usage.prompt_tokens > image_tokens(1024, 1024)


def test_a_fork_keeps_its_images_when_the_original_is_reset(
    session: Session, log, tmp_path: Path
) -> None:
    ask(session, "{a}", a=png("blue"))
    session.store.fork("default", "copy")
    session.store.reset("default")
    assert counts(tmp_path / "conversations.sqlite") == (1, 1)
    prompt = build("more", None, budget=100, max_side=64)
    options = TurnOptions(thread="copy", params=text_params("ok"))
    session.chat(prompt, options, driver(NullSurface()))
    assert len(image_urls(log.records[-1].body["messages"][0])) == 1


def test_an_unsaved_exchange_sends_its_image_from_memory_until_it_is_written(
    tmp_path: Path,
) -> None:
    state = tmp_path / "conversations.sqlite"
    store = ConversationStore.open(state, notebook="nb.ipynb", timeout=0.05)
    store.record("default", "first", ChatResult(text="ok"))
    other = sqlite3.connect(state, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another kernel holds the write lock too long
    part = image(png_bytes(png("red")))
    store.record("default", "see [image 1]", ChatResult(text="a dot"), images=[part])
    assert store.unsaved == 1
    assert store.messages("default", "more")[2]["content"][1] == part
    other.execute("COMMIT")
    assert store.save() and counts(state) == (1, 1)
    again = ConversationStore.open(state, notebook="nb.ipynb")
    assert again.messages("default", "more")[2]["content"][1] == part


def test_a_database_from_before_images_is_migrated_and_keeps_its_threads(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite"
    with sqlite3.connect(path) as db:
        for statement in V1_SCHEMA:
            db.execute(statement)
        db.execute("INSERT INTO threads VALUES (1, 'nb.ipynb', 'default', 'Be brief.', 1, 0)")
        parts = '{"v":1,"user":"hello","result":{"text":"hi there"}}'
        db.execute("INSERT INTO exchanges VALUES (1, 1, 1, NULL, 't1', 1.5, ?)", (parts,))
        db.execute("PRAGMA user_version=1")
    store = ConversationStore.open(path, notebook="nb.ipynb")
    thread = store.thread()
    assert (thread.system, [(e.user, e.result.text) for e in thread.exchanges]) == (
        "Be brief.", [("hello", "hi there")])  # fmt: skip
    assert store.warnings == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2
    assert counts(path) == (0, 0)


#: Schema version 1, as nbstream wrote it before images were kept (frozen here on purpose).
V1_SCHEMA = (
    "CREATE TABLE threads (id INTEGER PRIMARY KEY, notebook TEXT NOT NULL, name TEXT NOT NULL, "
    "system TEXT, rev INTEGER NOT NULL DEFAULT 0, epoch INTEGER NOT NULL DEFAULT 0, "
    "UNIQUE (notebook, name))",
    "CREATE TABLE exchanges (id INTEGER PRIMARY KEY AUTOINCREMENT, thread INTEGER NOT NULL "
    "REFERENCES threads (id), rev INTEGER NOT NULL, cell_id TEXT, turn_id TEXT NOT NULL, "
    "created REAL NOT NULL, parts TEXT NOT NULL)",
    "CREATE INDEX exchanges_by_rev ON exchanges (thread, rev)",
    "CREATE INDEX exchanges_by_cell ON exchanges (thread, cell_id) WHERE cell_id IS NOT NULL",
)


def png_bytes(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
