"""This kernel's copy of its threads: what it read, its unsaved changes, what it sends."""

from __future__ import annotations

from nbstream.engine.result import ChatResult, Status
from nbstream.store.memory import Memory, index_of, messages
from nbstream.store.records import Exchange, Thread
from nbstream.store.rows import Delta, Op


def ex(user: str, text: str, cell: str | None = None, **result: object) -> Exchange:
    return Exchange(user, ChatResult(text=text, **result), cell_id=cell)  # type: ignore[arg-type]


def test_the_view_is_what_was_read_plus_what_is_not_yet_written() -> None:
    memory = Memory()
    memory.merge("t", Delta(True, True, 1, "sys", 1, 0, ((1, ex("a", "1")),)))
    memory.unsaved += [Op("record", "t", ex("b", "2")), Op("system", "t", system="new"),
                       Op("record", "other", ex("c", "3"))]  # fmt: skip
    view = memory.view("t")
    assert view.system == "new" and [e.user for e in view.exchanges] == ["a", "b"]
    assert memory.count() == 1


def test_the_published_snapshot_changes_only_when_published() -> None:
    memory = Memory()
    assert memory.latest("t") == Thread("t")
    memory.unsaved.append(Op("record", "t", ex("a", "1")))
    assert memory.latest("t").exchanges == []
    memory.publish({"t"})
    assert [e.user for e in memory.latest("t").exchanges] == ["a"]


def test_a_rerun_cell_replaces_its_exchange_and_undo_and_reset_remove() -> None:
    memory = Memory()
    memory.unsaved += [Op("record", "t", ex("a", "1", "c1")), Op("record", "t", ex("b", "2", "c2")),
                       Op("record", "t", ex("a2", "1b", "c1"))]  # fmt: skip
    assert [e.user for e in memory.view("t").exchanges] == ["a2", "b"]
    memory.unsaved.append(Op("undo", "t"))
    assert [e.user for e in memory.view("t").exchanges] == ["a2"]
    memory.unsaved.append(Op("reset", "t"))
    assert memory.view("t").exchanges == []


def test_a_thread_gone_from_the_database_is_forgotten_with_its_warnings() -> None:
    memory = Memory()
    memory.merge("t", Delta(True, True, 1, None, 1, 0, ((1, ex("a", "1")),)))
    assert memory.merge("t", Delta(False, invalid=("row 3 skipped",))) == ("row 3 skipped",)
    assert memory.view("t").exchanges == [] and memory.merge("t", None) == ()


def test_messages_send_the_history_before_a_rerun_cell_within_the_limit() -> None:
    third = ex("three", "3", "c3", status=Status.INTERRUPTED)
    thread = Thread("t", "Be brief.", [ex("one", "1", "c1"), ex("two", "", "c2"), third])
    sent = messages(thread, "again", None, "c3")
    assert [m["content"] for m in sent] == ["Be brief.", "one", "1", "again"]
    limited = messages(thread, "next", 1, None)
    assert [m["content"] for m in limited] == ["Be brief.", "three", "3", "next"]
    assert [m["content"] for m in messages(thread, "x", 0, None)] == ["Be brief.", "x"]
    assert index_of(thread.exchanges, "c2") == 1 and index_of(thread.exchanges, None) is None
