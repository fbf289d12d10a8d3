"""Threads as rows: each change written in order, and only what changed read back."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import pytest

from nbstream.engine.result import ChatResult
from nbstream.store import db as sql
from nbstream.store.records import Exchange, Thread
from nbstream.store.rows import MIGRATIONS, Known, Op, adopt, apply, fetch, names


@pytest.fixture
def db(tmp_path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sql.connect(tmp_path / "c.sqlite", timeout=1)) as connection:
        sql.migrate(connection, MIGRATIONS, table="exchanges")
        yield connection


def ex(user: str, cell: str | None = None) -> Exchange:
    return Exchange(user, ChatResult(text=f"re: {user}"), cell_id=cell)


def write(db: sqlite3.Connection, *ops: Op, notebook: str = "a.ipynb") -> None:
    with sql.transaction(db):
        for op in ops:
            apply(db, notebook, op)


def users(db: sqlite3.Connection, name: str = "t", notebook: str = "a.ipynb") -> list[str]:
    delta = fetch(db, notebook, name, None)
    return [] if delta is None else [e.user for _, e in delta.rows if e]


def known_from(db: sqlite3.Connection, name: str = "t") -> Known:
    delta = fetch(db, "a.ipynb", name, None)
    assert delta is not None
    return Known(delta.tid, delta.system, delta.rev, delta.epoch, dict(delta.rows))


def test_records_come_back_in_order_and_a_rerun_cell_replaces_its_own(db) -> None:
    write(db, Op("record", "t", ex("one", "c1")), Op("record", "t", ex("two", "c2")))
    write(db, Op("record", "t", ex("one again", "c1")))
    assert users(db) == ["one again", "two"]
    assert names(db, "a.ipynb") == ["t"] and names(db, "b.ipynb") == []


def test_only_what_changed_since_known_is_read_and_nothing_when_nothing_did(db) -> None:
    write(db, Op("record", "t", ex("one")))
    known = known_from(db)
    assert fetch(db, "a.ipynb", "t", known) is None
    write(db, Op("record", "t", ex("two")))
    delta = fetch(db, "a.ipynb", "t", known)
    assert delta is not None and not delta.full and [e.user for _, e in delta.rows] == ["two"]


def test_removals_make_the_next_read_a_full_one(db) -> None:
    write(db, Op("record", "t", ex("one")), Op("record", "t", ex("two")))
    known = known_from(db)
    write(db, Op("undo", "t"))
    delta = fetch(db, "a.ipynb", "t", known)
    assert delta is not None and delta.full and [e.user for _, e in delta.rows] == ["one"]
    write(db, Op("reset", "t"), Op("system", "t", system="Be brief."))
    assert users(db) == [] and fetch(db, "a.ipynb", "t", None).system == "Be brief."


def test_undo_or_reset_of_an_unwritten_thread_writes_nothing(db) -> None:
    write(db, Op("undo", "new"), Op("reset", "new"))
    assert names(db, "a.ipynb") == []


def test_a_fork_copies_the_source_as_this_kernel_saw_it(db) -> None:
    source = Thread("t", "sys", [ex("one"), ex("two")])
    write(db, Op("fork", "t@m", source=source))
    assert users(db, "t@m") == ["one", "two"] and fetch(db, "a.ipynb", "t@m", None).system == "sys"


def test_a_renamed_notebook_adopts_its_threads_except_where_a_name_is_in_use(db) -> None:
    write(db, Op("record", "t", ex("old t")), Op("record", "u", ex("old u")), notebook="old.ipynb")
    write(db, Op("record", "u", ex("new u")), Op("system", "t", system="s"))
    with sql.transaction(db):
        moved, clashes = adopt(db, "a.ipynb", "old.ipynb")
    assert (moved, clashes) == (["t"], ["u"])
    assert users(db, "t") == ["old t"] and users(db, "u") == ["new u"]
    assert names(db, "old.ipynb") == ["u"]
