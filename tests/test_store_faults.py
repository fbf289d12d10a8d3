"""The conversation store when the disk, the folder or the database fails (FAULTS 27, 36, 37).

Real filesystems: a small tmpfs filled to the last byte, remounted read-only. A mount that
fails fails the test; CI runs as root.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbstream.engine.result import ChatResult
from nbstream.show.export import transcript_document
from nbstream.show.rendering import transcript_markdown, transcript_text
from nbstream.store.db import filesystem_type, journal_mode_for, problem
from nbstream.store.threads import ConversationStore

NOW = 1795515300.0


def reply(text: str = "ok") -> ChatResult:
    return ChatResult(text=text, model="m")


def open_store(state: Path, **options: object) -> ConversationStore:
    return ConversationStore.open(state, notebook="nb.ipynb", clock=lambda: NOW, **options)


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    """A real, small filesystem mounted at `where`."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.fail(f"could not mount a tmpfs at {where}: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


def fill(where: Path) -> Path:
    """Write a file until the filesystem has not one byte left; return it."""
    filler = where / "filler"
    with filler.open("wb", buffering=0) as handle:
        for chunk in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * chunk)
    return filler


def saved(state: Path) -> list[str]:
    """The user messages on disk, read by a fresh store (another kernel)."""
    return [ex.user for ex in open_store(state).thread().exchanges]


# -- a full disk, a read-only folder, a lock held too long (FAULTS 36) -----------------------


def test_a_full_disk_keeps_every_turn_and_writes_them_when_space_is_back(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        state = disk / ".nbstream" / "conversations.sqlite"
        store = open_store(state)
        store.record("default", "before", reply())
        filler = fill(disk)
        for n in range(10):
            store.record("default", f"q{n}", reply(), cell_id=f"c{n}")
            assert store.unsaved == n + 1
            assert store.problem is not None and store.problem.startswith("disk full")
        users = ["before", *(f"q{n}" for n in range(10))]
        assert [ex.user for ex in store.thread().exchanges] == users
        assert saved(state) == ["before"]
        filler.unlink()
        store.record("default", "after", reply())
        assert store.unsaved == 0 and store.problem is None
        assert saved(state) == [*users, "after"]


@contextlib.contextmanager
def read_only_view(folder: Path, where: Path) -> Iterator[Path]:
    """`folder` seen through a read-only bind mount at `where` (root ignores permissions)."""
    where.mkdir()
    subprocess.run(["mount", "--bind", str(folder), str(where)], check=True)
    try:
        remount(where, "bind,ro")
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_read_only_folder_keeps_the_turn_until_it_is_writable(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    open_store(folder / ".nbstream" / "conversations.sqlite").record("default", "q0", reply())
    with read_only_view(folder, tmp_path / "view") as view:
        state = view / ".nbstream" / "conversations.sqlite"
        store = open_store(state)
        store.record("default", "q1", reply())
        assert store.unsaved == 1 and store.problem
        assert [ex.user for ex in store.thread().exchanges][-1] == "q1"
        remount(view, "bind,rw")
        assert store.save()
        assert saved(state) == ["q0", "q1"]


def test_a_database_locked_too_long_keeps_the_turn_until_the_lock_is_gone(
    tmp_path: Path,
) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    store = open_store(state, timeout=0.05)
    store.record("default", "q0", reply())
    other = sqlite3.connect(state, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    store.record("default", "q1", reply())
    assert store.unsaved == 1 and "locked" in (store.problem or "")
    other.execute("COMMIT")
    store.record("default", "q2", reply())
    assert store.unsaved == 0 and saved(state) == ["q0", "q1", "q2"]


def test_unsaved_changes_are_written_in_order_undo_and_reset_included(tmp_path: Path) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    store = open_store(state, timeout=0.05)
    store.record("default", "q0", reply())
    other = sqlite3.connect(state, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    store.record("default", "q1", reply())
    store.record("default", "q2", reply())
    store.undo("default")
    store.set_system("default", "sys")
    store.record("other", "x", reply())
    store.reset("other")
    assert store.unsaved == 6
    other.execute("COMMIT")
    assert store.save()
    again = open_store(state)
    assert [ex.user for ex in again.thread().exchanges] == ["q0", "q1"]
    assert again.thread().system == "sys" and again.thread("other").exchanges == []


# -- a damaged database (FAULTS 27) ----------------------------------------------------------


def make_damaged(state: Path) -> None:
    store = open_store(state)
    for n in range(200):
        store.record("default", f"q{n}" * 50, reply("a" * 500))
    del store
    with sqlite3.connect(state) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(state.read_bytes())
    data[8192:40960] = b"\xa5" * 32768  # pages of the exchanges table and its indexes
    state.write_bytes(bytes(data))


def make_newer(state: Path) -> None:
    open_store(state).record("default", "q", reply())
    with sqlite3.connect(state) as db:
        db.execute("PRAGMA user_version=99")


def make_foreign(state: Path) -> None:
    state.parent.mkdir(parents=True)
    with sqlite3.connect(state) as db:
        db.execute("CREATE TABLE cells (source TEXT)")


def make_not_sqlite(state: Path) -> None:
    state.parent.mkdir(parents=True)
    state.write_text('{"format": "nbstream-conversations"}' * 200)


@pytest.mark.parametrize(
    ("damage", "reason", "said"),
    [
        (make_not_sqlite, "damaged", "could not be read (file is not a database)"),
        (make_damaged, "damaged", "could not be read (database disk image is malformed)"),
        (make_newer, "newer", "was written by a newer nbstream (schema 99)"),
        (make_foreign, "foreign", "is an SQLite database but not nbstream's"),
    ],
)
def test_a_database_that_cannot_be_used_is_set_aside_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage, reason: str, said: str
) -> None:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    damage(state)
    before = state.read_bytes()
    store = open_store(state)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(NOW))
    aside = state.with_name(f"conversations.sqlite.{reason}-{stamp}")
    assert store.warnings == [
        f"nbstream: .nbstream/conversations.sqlite {said}; set aside as {aside.name}; "
        "starting a fresh conversation"
    ]
    assert aside.read_bytes() == before
    store.record("default", "fresh", reply())
    assert saved(state) == ["fresh"] and aside.read_bytes() == before


def test_a_second_set_aside_never_replaces_the_first(tmp_path: Path) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    make_not_sqlite(state)
    open_store(state)
    state.write_text("later")
    open_store(state)
    kept = sorted(p.name for p in state.parent.glob("*.damaged-*[0-9]"))
    assert len(kept) == 2 and kept[1].endswith("-2")
    assert state.with_name(kept[1]).read_text() == "later"


def test_a_bad_database_that_cannot_be_moved_is_left_alone_and_nothing_is_saved(
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk"
    state = disk / ".nbstream" / "conversations.sqlite"
    make_not_sqlite(state)
    before = state.read_bytes()
    with read_only_view(disk, tmp_path / "view") as view:
        store = open_store(view / ".nbstream" / "conversations.sqlite")
        assert store.path is None and "could not be set aside" in store.warnings[0]
        assert "will not be saved" in store.warnings[0]
        store.record("default", "q", reply())
        assert [ex.user for ex in store.thread().exchanges] == ["q"]
        remount(view, "bind,rw")
        store.record("default", "q2", reply())
    assert state.read_bytes() == before


# -- rows that do not validate (FAULTS 37) ---------------------------------------------------


def write_row(state: Path, parts: object, **columns: object) -> None:
    store = open_store(state)
    store.record("default", "good", reply("fine"))
    row = {"cell_id": None, "turn_id": "t", "created": 1.0, **columns}
    with sqlite3.connect(state) as db:
        db.execute(
            "INSERT INTO exchanges (thread, rev, cell_id, turn_id, created, parts) "
            "VALUES (1, 99, ?, ?, ?, ?)",
            (row["cell_id"], row["turn_id"], row["created"], parts),
        )
        db.execute("UPDATE threads SET rev = 99")


def parts(user: object = "q", **result: object) -> str:
    return json.dumps({"v": 1, "user": user, "result": {"text": "a", **result}})


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ({"parts": parts(user=5)}, "user: Input should be a valid string"),
        ({"parts": parts(text=5)}, "result.text: Input should be a valid string"),
        ({"parts": parts(status="weird")}, "result.status: Input should be 'complete'"),
        ({"parts": parts(usage={"prompt_tokens": "ten"})}, "result.usage.prompt_tokens"),
        ({"parts": parts(tool_calls=[{"name": "f"}])}, "result.tool_calls.0.index: Field required"),
        ({"parts": "[" * 100_000 + "]" * 100_000}, "recursion limit exceeded"),
        ({"parts": '{"v": 2, "user": "q", "result": {}}'}, "v: Input should be 1"),
        ({"parts": "{not json"}, "Invalid JSON"),
        ({"parts": b"bytes"}, "parts is bytes, not JSON text"),
        ({"parts": "x" * (16 * 1024 * 1024 + 1)}, "over the 16777216 limit"),
        ({"parts": parts(), "turn_id": b"x"}, "cell_id or turn_id is not text"),
        ({"parts": parts(), "created": "today"}, "created is str, not a number"),
    ],
)
def test_a_row_that_does_not_validate_is_skipped_with_a_warning_naming_it(
    tmp_path: Path, row: dict[str, object], named: str
) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    write_row(state, **row)
    store = open_store(state)
    [warning] = store.warnings
    assert warning.startswith("exchange 2 of thread 'default' skipped: ") and named in warning
    assert [m["content"] for m in store.messages("default", "next")] == ["good", "fine", "next"]
    assert "fine" in transcript_text(store.thread()) and "fine" in transcript_document(
        store.thread()
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
result_fields = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        for key in ("text", "status", "model", "refusal", "tool_calls", "usage", "timings",
                    "notices", "error", "finish_reason", "replayed", "chunk_count")
    },
)  # fmt: skip
fuzzed_parts = st.one_of(
    json_values.map(json.dumps),
    st.builds(lambda user, result: json.dumps({"v": 1, "user": user, "result": result}),
              json_values, result_fields),
    st.builds(lambda user, result: json.dumps({"v": 1, "user": user, "result": result}),
              st.text(max_size=8), result_fields),
)  # fmt: skip


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(fuzzed_parts, json_values.map(json.dumps)), max_size=4))
def test_fuzzed_rows_never_crash_history_export_or_a_request(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str]]
) -> None:
    state = tmp_path_factory.mktemp("fuzz") / "conversations.sqlite"
    open_store(state).record("default", "good", reply("fine"))
    with sqlite3.connect(state) as db:
        for text, cell in rows:
            db.execute(
                "INSERT INTO exchanges (thread, rev, cell_id, turn_id, created, parts) "
                "VALUES (1, 99, ?, 't', 1.0, ?)",
                (cell if len(cell) % 2 else None, text),
            )
        db.execute("UPDATE threads SET rev = 99")
    store = open_store(state)
    sent = store.messages("default", "next")
    assert all(isinstance(m["content"], str) and m["role"] in ("user", "assistant") for m in sent)
    assert sent[:2] == [
        {"role": "user", "content": "good"},
        {"role": "assistant", "content": "fine"},
    ]
    thread = store.thread()
    transcript_markdown(thread), transcript_text(thread)
    json.loads(store.export_json())
    assert len(store.warnings) == 1 + len(rows) - len(thread.exchanges)


# -- network filesystems ---------------------------------------------------------------------

MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export/home /home nfs4 rw,vers=4.2 0 0
gdrive: /home/me/Drive fuse.rclone rw,nosuid 0 0
/dev/sdb1 /mnt/usb fuseblk rw 0 0
//nas/share /mnt/nas cifs rw 0 0
tmpfs /tmp tmpfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "kind", "mode"),
    [
        ("/home/me/work/nb.ipynb", "nfs4", "delete"),
        ("/home/me/Drive/Colab/nb.ipynb", "fuse.rclone", "delete"),
        ("/mnt/nas/x/nb.ipynb", "cifs", "delete"),
        ("/mnt/usb/nb.ipynb", "fuseblk", "wal"),
        ("/tmp/x/nb.ipynb", "tmpfs", "wal"),
        ("/homework/nb.ipynb", "ext4", "wal"),
    ],
)
def test_wal_is_used_except_on_network_and_fuse_filesystems(
    path: str, kind: str, mode: str
) -> None:
    assert filesystem_type(Path(path), MOUNTS) == kind
    assert journal_mode_for(Path(path), MOUNTS) == mode


def test_a_store_on_a_network_filesystem_uses_the_rollback_journal(tmp_path: Path) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    mounts = f"server:/export {tmp_path} nfs rw 0 0\n"
    store = open_store(state, mounts=mounts)
    store.record("default", "q", reply())
    assert store.journal_mode == "delete"
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(os.listdir(state.parent)) == ["conversations.sqlite"]
    assert open_store(state).thread().exchanges[0].user == "q"


# -- what a failure is called, and threads made while nothing can be saved -------------------


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (sqlite3.OperationalError("database or disk is full"),
         "disk full (database or disk is full)"),
        (OSError(28, "No space left on device"), "disk full (No space left on device)"),
        (sqlite3.OperationalError("attempt to write a readonly database"),
         "read-only (attempt to write a readonly database)"),
        (OSError(30, "Read-only file system"), "read-only (Read-only file system)"),
        (sqlite3.OperationalError("database is locked"),
         "locked by another process (database is locked)"),
        (sqlite3.OperationalError("database table is busy"),
         "locked by another process (database table is busy)"),
        (sqlite3.OperationalError("unable to open database file"), "unable to open database file"),
    ],
)  # fmt: skip
def test_a_failed_write_is_named_in_a_few_words(error: BaseException, said: str) -> None:
    assert problem(error) == said


def block_with_a_file(state: Path) -> None:
    state.parent.parent.mkdir(parents=True, exist_ok=True)
    state.parent.write_text("a file where .nbstream/ should be")


def block_with_a_directory(state: Path) -> None:
    state.mkdir(parents=True)


@pytest.mark.parametrize("block", [block_with_a_file, block_with_a_directory])
def test_threads_made_while_nothing_can_be_saved_are_listed(tmp_path: Path, block) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    block(state)
    store = open_store(state)
    [warning] = store.warnings
    assert warning.startswith("nbstream: could not open ")
    assert warning.endswith("); changes are kept in memory and written once it can be opened")
    store.set_system("a", "sys")
    store.record("b", "q", reply())
    store.reset("a")
    store.undo("c")
    assert store.threads() == ["a", "b"]
    assert store.unsaved == 2 and store.problem is not None  # reset and undo had nothing to do
