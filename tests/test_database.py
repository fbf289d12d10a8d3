"""The conversation database: written and read back by notebook and thread; a bad file set aside."""

from __future__ import annotations

from nbstream.engine.result import ChatResult
from nbstream.store.attachments import Blob
from nbstream.store.database import Database
from nbstream.store.db import SchemaError
from nbstream.store.records import Exchange
from nbstream.store.rows import Op

EXT4 = "/dev/sda1 / ext4 rw 0 0\n"


def record(thread: str, user: str) -> Op:
    return Op("record", thread, Exchange(user, ChatResult(text=f"re: {user}")))


def test_what_one_connection_writes_another_reads_by_notebook(tmp_path) -> None:
    path = tmp_path / ".nbstream" / "conversations.sqlite"
    writer = Database(path, timeout=1, mounts=EXT4)
    writer.write("a.ipynb", [record("t", "one"), record("t", "two")], {"t"}, {})
    writer.write("b.ipynb", [record("t", "other notebook")], {"t"}, {})
    reader = Database(path, timeout=1, mounts=EXT4)
    (delta,) = reader.read_all("a.ipynb").values()
    assert delta is not None and delta.exists
    assert [ex.user for _, ex in delta.rows if ex] == ["one", "two"]
    assert reader.where() == f"{path} (journal wal)"
    writer.close()
    reader.close()


def test_without_a_path_threads_live_in_memory_only() -> None:
    memory = Database(None, timeout=1, mounts=None)
    memory.write("nb", [record("t", "x")], {"t"}, {})
    assert list(memory.read_all("nb")) == ["t"]
    assert (memory.shown(), memory.where()) == ("memory", "in memory only")


def test_an_unusable_file_is_set_aside_and_a_fresh_one_started(tmp_path) -> None:
    path = tmp_path / "conversations.sqlite"
    path.write_bytes(b"garbage " * 100)
    database = Database(path, timeout=1, mounts=EXT4)
    warning = database.set_aside(SchemaError("foreign", "is not nbstream's"), 0.0)
    assert warning.startswith(f"nbstream: {path} is not nbstream's; set aside as ")
    assert warning.endswith("; starting a fresh conversation")
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("conversations.sqlite.foreign-")]
    assert len(kept) == 1 and kept[0].read_bytes() == b"garbage " * 100
    database.write("nb", [record("t", "x")], {"t"}, {})
    assert path.exists()
    database.close()


def test_images_that_cannot_be_read_are_left_out_and_pending_ones_still_come(tmp_path) -> None:
    unusable = Database(tmp_path, timeout=1, mounts=EXT4)  # a folder: SQLite cannot open it
    pending = {"ab": Blob("ab", "image/png", b"\x89PNG")}
    parts = unusable.image_parts(["sha256:cd", "sha256:ab", "https://x.test/a.png"], pending)
    urls = [part["image_url"]["url"] for part in parts]
    assert urls == ["data:image/png;base64,iVBORw==", "https://x.test/a.png"]
