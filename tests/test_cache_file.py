"""The response cache's SQLite file: made when first written, checked, never changed if not ours."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from nbstream.errors import CacheError
from nbstream.store.cache_file import FORMAT, VERSION, CacheFile


@pytest.fixture
def file(tmp_path: Path) -> CacheFile:
    return CacheFile(tmp_path / ".nbstream" / "cache.sqlite")


def test_reading_a_file_not_yet_made_sees_an_empty_cache_and_makes_nothing(file) -> None:
    with file.connect(write=False) as db:
        assert db.execute("SELECT COUNT(*) FROM replies").fetchone() == (0,)
    assert not file.path.parent.exists()


def test_the_first_write_makes_a_private_file_that_says_what_it_is(file) -> None:
    with file.connect(write=True):
        pass
    assert file.path.stat().st_mode & 0o777 == 0o600
    with contextlib.closing(sqlite3.connect(file.path)) as db:
        meta = dict(db.execute("SELECT name, value FROM nbstream_cache"))
    assert meta == {"format": FORMAT, "version": str(VERSION)}


def test_a_foreign_database_is_refused_and_left_as_it_is(file) -> None:
    file.path.parent.mkdir()
    with contextlib.closing(sqlite3.connect(file.path)) as db, db:
        db.execute("CREATE TABLE photos (name TEXT)")
    before = file.path.read_bytes()
    with pytest.raises(CacheError, match="an SQLite database but not an nbstream response"):
        file.connect(write=True).__enter__()
    assert file.path.read_bytes() == before


def test_a_file_replaced_under_a_kept_connection_is_checked_again(file) -> None:
    with file.connect(write=True):
        pass
    os.replace(file.path, file.path.with_suffix(".old"))
    with contextlib.closing(sqlite3.connect(file.path)) as db, db:
        db.execute("CREATE TABLE photos (name TEXT)")
    with pytest.raises(CacheError, match="not an nbstream response cache"):
        file.connect(write=False).__enter__()
    file.close()


def test_the_unusable_message_names_the_file_and_both_ways_out(file, monkeypatch) -> None:
    monkeypatch.chdir(file.path.parent.parent)
    err = file.unusable("is damaged (x)", "upgrade nbstream, or")
    assert str(err) == (
        "the response cache .nbstream/cache.sqlite is damaged (x); nbstream leaves it as it is\n"
        "  hint: upgrade nbstream, or move it aside to start a new cache "
        "(mv .nbstream/cache.sqlite .nbstream/cache.sqlite.old), or turn the cache off: "
        "%chat cache off"
    )
