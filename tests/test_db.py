"""The SQLite rules every nbstream file follows: private, the right journal, migrations."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from nbstream.store.db import (
    SchemaError,
    configure,
    connect,
    filesystem_type,
    journal_mode_for,
    migrate,
    problem,
    read_mounts,
    set_aside,
    transaction,
)

MOUNTS = """broken
/dev/sda1 / ext4 rw 0 0
server:/export /home/me/nfs nfs4 rw 0 0
sshfs#me@h: /home/me/remote fuse.sshfs rw 0 0
/dev/sdb1 /media/usb fuseblk rw 0 0
server:/disk /mnt/my\\040disk nfs rw 0 0
scratch /srv/scratch tmpfs
/dev/sdd1 /data ext4 rw 0 0
server:/data /data nfs rw 0 0
"""
MIGRATIONS = [["CREATE TABLE notes (text TEXT)"], ["ALTER TABLE notes ADD COLUMN at REAL"]]


@pytest.mark.parametrize(
    ("path", "kind", "mode"),
    [
        ("/home/me/work/a.sqlite", "ext4", "wal"),
        ("/home/me/nfs/a.sqlite", "nfs4", "delete"),
        ("/home/me/nfsx/a.sqlite", "ext4", "wal"),  # a longer name is not inside the mount
        ("/home/me/remote/a.sqlite", "fuse.sshfs", "delete"),
        ("/media/usb/a.sqlite", "fuseblk", "wal"),
        ("/mnt/my disk/a.sqlite", "nfs", "delete"),  # a space is \\040 in the table
        ("/srv/scratch/a.sqlite", "tmpfs", "wal"),  # a line without options still counts
        ("/data/a.sqlite", "nfs", "delete"),  # mounted over: the later mount is the one seen
    ],
)
def test_the_journal_is_wal_except_on_network_and_fuse_filesystems(path, kind, mode) -> None:
    assert filesystem_type(Path(path), MOUNTS) == kind
    assert journal_mode_for(Path(path), MOUNTS) == mode


def test_this_machines_mount_table_is_read() -> None:
    assert " / " in read_mounts()


def test_a_file_up_to_date_but_missing_its_table_is_damaged(tmp_path) -> None:
    with contextlib.closing(connect(tmp_path / "x.sqlite", timeout=1)) as db:
        db.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
        db.execute("CREATE TABLE other (x)")
        with pytest.raises(SchemaError) as caught:
            migrate(db, MIGRATIONS, table="notes")
    assert (caught.value.reason, str(caught.value)) == (
        "damaged",
        "is damaged (its notes table is missing)",
    )


def test_a_new_file_is_private_and_configured_in_its_mode(tmp_path) -> None:
    path = tmp_path / "new" / "x.sqlite"
    with contextlib.closing(connect(path, timeout=1)) as db:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        configure(db, path, "wal")
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_migrations_bring_a_file_up_to_date_once(tmp_path) -> None:
    path = tmp_path / "x.sqlite"
    with contextlib.closing(connect(path, timeout=1)) as db:
        migrate(db, MIGRATIONS[:1], table="notes")
        migrate(db, MIGRATIONS, table="notes")
        migrate(db, MIGRATIONS, table="notes")
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        assert [r[1] for r in db.execute("PRAGMA table_info(notes)")] == ["text", "at"]


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (["CREATE TABLE photos (x)"], "foreign"),
        (["PRAGMA user_version=9"], "newer"),
        (["PRAGMA user_version=1"], "damaged"),
    ],
)
def test_a_file_that_is_not_ours_or_newer_is_refused(tmp_path, prepare, reason) -> None:
    path = tmp_path / "x.sqlite"
    with contextlib.closing(connect(path, timeout=1)) as db:
        for statement in prepare:
            db.execute(statement)
        with pytest.raises(SchemaError) as caught:
            migrate(db, MIGRATIONS, table="notes")
    assert caught.value.reason == reason


def test_a_transaction_rolls_back_on_any_exception(tmp_path) -> None:
    with contextlib.closing(connect(tmp_path / "x.sqlite", timeout=1)) as db:
        migrate(db, MIGRATIONS, table="notes")
        with pytest.raises(KeyboardInterrupt), transaction(db):
            db.execute("INSERT INTO notes VALUES ('lost', 1)")
            raise KeyboardInterrupt
        with transaction(db):
            db.execute("INSERT INTO notes VALUES ('kept', 2)")
        assert db.execute("SELECT text FROM notes").fetchall() == [("kept",)]


def test_set_aside_moves_the_file_and_its_side_files_to_a_fresh_name(tmp_path) -> None:
    path = tmp_path / "x.sqlite"
    for name in ("", "-wal"):
        (tmp_path / f"x.sqlite{name}").write_text(name or "db")
    first = set_aside(path, "foreign", 0.0)
    path.write_text("db2")
    second = set_aside(path, "foreign", 0.0)
    assert first.name.startswith("x.sqlite.foreign-") and second.name == f"{first.name}-2"
    assert (tmp_path / f"{first.name}-wal").read_text() == "-wal"
    assert not path.exists() and not (tmp_path / "x.sqlite-wal").exists()


def test_problems_are_named_in_a_few_words() -> None:
    assert problem(OSError(28, "No space left on device")) == "disk full (No space left on device)"
    assert problem(sqlite3.OperationalError("attempt to write a readonly database")).startswith(
        "read-only ("
    )
    assert problem(sqlite3.OperationalError("database is locked")).startswith("locked by another")
    assert problem(ValueError("odd")) == "odd"
