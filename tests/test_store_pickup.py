"""Picking up what other kernels committed: cheap when nothing changed, never missed when
something did (FAULTS 35)."""

from __future__ import annotations

from pathlib import Path

from nbstream.engine.result import ChatResult
from nbstream.store.records import Exchange
from nbstream.store.rows import Op
from nbstream.store.threads import ConversationStore


def kernel(tmp_path: Path, notebook: str = "nb.ipynb") -> ConversationStore:
    return ConversationStore.open(tmp_path / "conversations.sqlite", notebook=notebook)


def users(store: ConversationStore, name: str) -> list[str]:
    return [ex.user for ex in store.thread(name).exchanges]


def test_one_commit_to_two_threads_is_picked_up_in_both(tmp_path: Path) -> None:
    mine, theirs = kernel(tmp_path), kernel(tmp_path)
    mine.set_system("x", "known here")
    mine.set_system("y", "known here")
    theirs.write_all(
        [Op("record", "x", exchange=Exchange("to x", ChatResult(text="a"))),
         Op("record", "y", exchange=Exchange("to y", ChatResult(text="b")))]
    )  # fmt: skip
    assert users(mine, "y") == ["to y"]
    assert users(mine, "x") == ["to x"]  # the same commit, read on a later pickup


def test_each_new_commit_is_picked_up_after_a_quiet_pickup(tmp_path: Path) -> None:
    mine, theirs = kernel(tmp_path), kernel(tmp_path)
    mine.record("default", "mine", ChatResult(text="a"))
    for n in range(3):
        assert users(mine, "default") == ["mine", *(f"theirs {k}" for k in range(n))]
        assert users(mine, "default") == ["mine", *(f"theirs {k}" for k in range(n))]
        theirs.record("default", f"theirs {n}", ChatResult(text="b"))
    assert users(mine, "default") == ["mine", "theirs 0", "theirs 1", "theirs 2"]


def test_a_store_that_adopts_reads_the_threads_it_took_over(tmp_path: Path) -> None:
    old = kernel(tmp_path, "old.ipynb")
    old.record("default", "from the old name", ChatResult(text="a"))
    new = kernel(tmp_path, "new.ipynb")
    new.set_system("default", "gives way")  # a thread this store knows, with no exchanges
    assert users(new, "default") == []
    assert new.adopt("old.ipynb") == ["default"]
    assert users(new, "default") == ["from the old name"]
    new.record("default", "after", ChatResult(text="b"))
    assert users(kernel(tmp_path, "new.ipynb"), "default") == ["from the old name", "after"]
