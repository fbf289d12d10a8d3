"""The conversation store: threads recorded, sent back, undone, forked; shared by kernels."""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nbstream.engine.result import ChatResult, Status
from nbstream.errors import ThreadBusyError
from nbstream.store.records import Exchange
from nbstream.store.rows import Op
from nbstream.store.threads import ConversationStore

EXT4 = "/dev/sda1 / ext4 rw 0 0\n"


def reply(text: str, **changes: object) -> ChatResult:
    return ChatResult(text=text, **changes)  # type: ignore[arg-type]


def test_a_second_kernel_sees_what_the_first_recorded(tmp_path) -> None:
    path = tmp_path / "conversations.sqlite"
    first = ConversationStore.open(path, notebook="a.ipynb", mounts=EXT4)
    first.set_system("t", "Be brief.")
    first.record("t", "one", reply("1"))
    second = ConversationStore.open(path, notebook="a.ipynb", mounts=EXT4)
    assert second.messages("t", "two") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
    ]
    assert ConversationStore.open(path, notebook="b.ipynb", mounts=EXT4).threads() == []


def test_undo_reset_and_fork(tmp_path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite", notebook="a.ipynb", mounts=EXT4)
    store.record("t", "one", reply("1"))
    store.record("t", "two", reply("2", status=Status.INTERRUPTED))
    assert store.summary("t") == "2 turns, 1 interrupted"
    undone = store.undo("t")
    assert undone is not None and undone.user == "two"
    store.fork("t", "t2")
    store.reset("t")
    assert store.thread("t").exchanges == [] and [e.user for e in store.thread("t2").exchanges] == [
        "one"
    ]


def test_one_turn_at_a_time_per_thread(tmp_path) -> None:
    store = ConversationStore(None)
    with store.turn("t"), pytest.raises(ThreadBusyError), store.turn("t"):
        pass


def test_the_published_view_follows_each_change(tmp_path) -> None:
    store = ConversationStore(None)
    store.record("t", "one", reply("1"))
    assert [e.user for e in store.latest("t").exchanges] == ["one"]
    assert store.path is None and store.unsaved_problem() is None


PNG = b"\x89PNG not really"
DATA_URL = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
IMAGE = {"type": "image_url", "image_url": {"url": DATA_URL}}


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another kernel holding the database's write lock: the store's writes wait, then fail."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def quick_store(path: Path, **options: object) -> ConversationStore:
    return ConversationStore.open(path, notebook="a.ipynb", mounts=EXT4, timeout=0.05, **options)


def test_a_store_not_opened_has_restored_nothing_and_no_name_is_a_notebook_too(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    unnamed = ConversationStore(path, mounts=EXT4)
    assert unnamed.restored == 0
    unnamed.record("t", "one", reply("1"))
    assert [
        e.user for e in ConversationStore(path, notebook="", mounts=EXT4).thread("t").exchanges
    ] == ["one"]


def test_a_change_held_in_memory_is_in_the_view_and_sent_with_its_image(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    store = quick_store(path)
    store.record("t", "kept", reply("1"))
    with locked(path):
        store.record("t", "look", reply("2"), images=[IMAGE])
        store.reset("kept")  # a thread never written: nothing to reset
        assert store.unsaved == 1 and store.unsaved_problem() is not None
        assert store.save() is False
        sent = store.messages("t", "next")
        store.reset("t")
        assert store.latest("t").exchanges == [] and store.unsaved == 2
    assert sent[2]["content"][1] == IMAGE  # from the bytes held in memory
    assert store.save() is True and store.unsaved_problem() is None
    assert quick_store(path).thread("t").exchanges == []


def test_an_image_and_a_turn_id_reach_another_kernel(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    quick_store(path).record("t", "look", reply("ok"), images=[IMAGE], turn_id="turn-1")
    other = quick_store(path)
    [exchange] = other.thread("t").exchanges
    assert exchange.turn_id == "turn-1" and exchange.images
    assert other.messages("t", "next")[0]["content"][1] == IMAGE


def test_a_batch_that_cannot_be_written_is_dropped_whole(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    store = quick_store(path)
    store.record("t", "before", reply("0"))
    with locked(path):
        store.record("t", "pending", reply("1"))  # held in memory, and kept
        batch = [Op("record", "t", exchange=Exchange("imported", reply("2")))]
        assert store.write_all(batch) is False
        assert [e.user for e in store.latest("t").exchanges] == ["before", "pending"]
        assert store.unsaved == 1
    assert store.write_all([]) is True and store.unsaved_problem() is None
    assert [e.user for e in quick_store(path).thread("t").exchanges] == ["before", "pending"]


def test_a_thread_needs_a_name_and_exports_itself(tmp_path) -> None:
    store = ConversationStore(None)
    with pytest.raises(ValueError, match=r"^a thread name cannot be empty$"):
        store.record("", "q", reply("1"))
    store.record("t", "q", reply("1"))
    assert '"user": "q"' in store.export_json("t") and '"user"' not in store.export_json()


READ_EXCHANGES = "SELECT id, parts, cell_id, turn_id, created FROM exchanges"


def test_a_thread_no_other_kernel_changed_is_not_read_again(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    quick_store(path).record("t", "one", reply("1"))
    store = quick_store(path)  # reads every thread as it opens
    statements: list[str] = []
    store._file.connection().set_trace_callback(statements.append)
    store.thread("t")
    assert statements == ["PRAGMA data_version"]  # asked whether anyone committed, no more
    store.record("t", "two", reply("2"))
    assert [s for s in statements if "FROM exchanges" in s] == [  # read back: only what is new
        f"{READ_EXCHANGES} WHERE thread = 1 AND rev > 1 ORDER BY id"
    ]
    statements.clear()
    store.thread("t")
    assert statements == ["PRAGMA data_version"]  # its own write was read back with it
    quick_store(path).record("t", "three", reply("3"))  # another kernel commits
    assert [e.user for e in store.thread("t").exchanges] == ["one", "two", "three"]
    assert [s for s in statements if "FROM exchanges" in s] == [  # the other kernel's alone
        f"{READ_EXCHANGES} WHERE thread = 1 AND rev > 2 ORDER BY id"
    ]
    statements.clear()
    store.thread("t")
    assert statements == ["PRAGMA data_version"]


def test_a_kernels_own_exchange_is_kept_as_written_not_parsed_back(tmp_path) -> None:
    store = quick_store(tmp_path / "c.sqlite")
    written = store.record("t", "one", reply("1"))
    assert store.thread("t").exchanges[-1] is written


def test_the_file_is_made_private_again_when_opened(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    quick_store(path).record("t", "one", reply("1"))
    path.chmod(0o644)  # copied in, or made by hand
    quick_store(path).record("t", "two", reply("2"))
    assert path.stat().st_mode & 0o777 == 0o600


def test_images_of_a_store_that_cannot_open_its_file_are_left_out(tmp_path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = quick_store(tmp_path / "file" / "c.sqlite")  # cannot even make its folder
    store.record("t", "look", reply("ok"), images=[IMAGE])
    assert store.messages("t", "next")[0]["content"][1] == IMAGE  # the bytes held in memory


def test_reading_never_waits_for_another_kernels_write(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    quick_store(path).record("t", "look", reply("ok"), images=[IMAGE])
    other = quick_store(path)
    quick_store(path).record("t", "later", reply("2"))  # `other` has yet to read this
    with locked(path):
        fresh = quick_store(path)  # opens and reads every thread while a write is under way
        assert fresh.warnings == [] and fresh.restored == 2
        assert [e.user for e in other.thread("t").exchanges] == ["look", "later"]
        assert other.messages("t", "next")[0]["content"][1] == IMAGE  # bytes from the file


def test_a_store_in_memory_serves_any_thread_of_the_kernel(tmp_path) -> None:
    store = ConversationStore(None)
    assert store.journal_mode == "memory"
    worker = threading.Thread(target=lambda: store.record("t", "from a worker", reply("1")))
    worker.start()
    worker.join()
    store.record("t", "from the main thread", reply("2"))
    assert [e.user for e in store.thread("t").exchanges] == [
        "from a worker",
        "from the main thread",
    ]
    assert store.unsaved == 0 and store.unsaved_problem() is None  # written, not held back


def test_a_fork_over_a_thread_another_kernel_holds_replaces_it_there_too(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    first = quick_store(path)
    first.record("copy", "old", reply("0"))
    first.record("t", "one", reply("1"))
    second = quick_store(path)
    second.fork("t", "copy")
    assert [e.user for e in first.thread("copy").exchanges] == ["one"]
