"""This kernel's copy of its threads: what it sends as history and what it shows, from what
it read and what it has not written yet (nbstream/store/memory.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nbstream.engine.result import ChatResult
from nbstream.store.memory import Memory, messages
from nbstream.store.records import Exchange, Thread
from nbstream.store.rows import Delta, Op


def no_images(names: Sequence[str]) -> list[dict[str, Any]]:
    raise AssertionError(f"no exchange here attaches images, yet {names} were asked for")


def parts_named(names: Sequence[str]) -> list[dict[str, Any]]:
    return [{"type": "image_url", "image_url": {"url": name}} for name in names]


REASONING = ({"type": "reasoning", "id": "rs_1", "summary": []},)


def exchange(user: str, cell: str | None = None, **result: object) -> Exchange:
    return Exchange(user, ChatResult(**{"text": f"re {user}", **result}), cell_id=cell)  # type: ignore[arg-type]


def test_an_answer_carries_its_reasoning_items_only_when_it_has_some() -> None:
    thread = Thread("t", None, [exchange("q1", reasoning_items=REASONING), exchange("q2")])
    sent = messages(thread, "next", None, None, no_images)
    assert sent[1] == {"role": "assistant", "content": "re q1", "reasoning_items": list(REASONING)}
    assert sent[3] == {"role": "assistant", "content": "re q2"}
    assert sent[-1] == {"role": "user", "content": "next"}


def test_a_limit_of_zero_sends_the_system_prompt_and_the_question_only() -> None:
    thread = Thread("t", "be brief", [exchange("q1"), exchange("q2")])
    assert messages(thread, "next", 0, None, no_images) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "next"},
    ]
    assert [m["content"] for m in messages(thread, "next", 1, None, no_images)] == [
        "be brief", "q2", "re q2", "next"
    ]  # fmt: skip


def test_a_rerun_cell_is_sent_only_what_came_before_it() -> None:
    thread = Thread("t", None, [exchange("q1", "a"), exchange("q2", "b"), exchange("q3", "c")])
    assert [m["content"] for m in messages(thread, "again", None, "b", no_images)] == [
        "q1",
        "re q1",
        "again",
    ]
    assert len(messages(thread, "new", None, "unknown cell", no_images)) == 7


def test_unsaved_changes_are_applied_in_order_over_what_was_read() -> None:
    memory = Memory()
    memory.merge("t", Delta(True, True, 1, "sys", 1, 0, ((1, exchange("read", "a")),)))
    memory.unsaved += [
        Op("record", "t", exchange=exchange("appended")),
        Op("record", "t", exchange=exchange("replaced", "a")),
        Op("record", "other", exchange=exchange("elsewhere")),
        Op("system", "t", system="new system"),
    ]
    view = memory.view("t")
    assert (view.system, [ex.user for ex in view.exchanges]) == (
        "new system",
        ["replaced", "appended"],
    )
    memory.unsaved += [Op("undo", "t")]
    assert [ex.user for ex in memory.view("t").exchanges] == ["replaced"]
    memory.unsaved += [Op("reset", "t"), Op("undo", "t")]  # an undo of nothing does nothing
    assert memory.view("t").exchanges == [] and memory.view("t").system == "new system"
    source = Thread("t", "forked system", [exchange("forked")])
    memory.unsaved += [Op("fork", "copy", source=source)]
    copy = memory.view("copy")
    assert (copy.system, [ex.user for ex in copy.exchanges]) == ("forked system", ["forked"])


def test_the_published_view_changes_only_when_published() -> None:
    memory = Memory()
    assert memory.latest("t") == Thread("t")
    memory.unsaved.append(Op("record", "t", exchange=exchange("q")))
    assert memory.latest("t").exchanges == []
    memory.publish({"t"})
    published = memory.latest("t")
    assert [ex.user for ex in published.exchanges] == ["q"]
    memory.unsaved.clear()
    assert memory.latest("t") is published  # replaced whole on the next publish, never changed


def test_merging_keeps_rows_by_id_drops_invalid_ones_and_forgets_a_deleted_thread() -> None:
    memory = Memory()
    first = Delta(True, True, 7, None, 1, 0, ((1, exchange("a")), (2, exchange("b"))))
    assert memory.merge("t", first) == ()
    changed = Delta(True, False, 7, "s", 2, 0, ((2, None), (3, exchange("c"))), ("row 2 bad",))
    assert memory.merge("t", changed) == ("row 2 bad",)
    assert [ex.user for ex in memory.view("t").exchanges] == ["a", "c"]
    assert (memory.known["t"].rev, memory.view("t").system) == (2, "s")
    assert memory.count() == 2
    reloaded = Delta(True, True, 7, "s", 3, 1, ((4, exchange("d")),))
    memory.merge("t", reloaded)
    assert [ex.user for ex in memory.view("t").exchanges] == ["d"]  # a full read replaces all
    assert memory.merge("t", None) == () and memory.count() == 1
    memory.merge("t", Delta(exists=False))
    assert "t" not in memory.known and memory.count() == 0


def test_a_user_message_that_attached_images_gets_them_back_as_parts_after_its_text() -> None:
    asked = Exchange("see [image 1] [image 2]", ChatResult(text="a cat"),
                     images=("sha256:ab", "https://x.test/a.png"))  # fmt: skip
    sent = messages(Thread("t", None, [asked]), "more", None, None, parts_named)
    assert sent[0]["content"] == [
        {"type": "text", "text": "see [image 1] [image 2]"},
        *parts_named(["sha256:ab", "https://x.test/a.png"]),
    ]
    assert sent[1:] == [
        {"role": "assistant", "content": "a cat"},
        {"role": "user", "content": "more"},
    ]
