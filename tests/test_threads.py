"""The conversation store: threads recorded, sent back, undone, forked; shared by kernels."""

from __future__ import annotations

import pytest

from nbstream.engine.result import ChatResult, Status
from nbstream.errors import ThreadBusyError
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
