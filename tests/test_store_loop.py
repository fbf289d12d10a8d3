"""The store never does blocking I/O on nbstream's loop thread, where every stream runs.

The tests run with $NBSTREAM_STRICT_THREADS=1 (tests/conftest.py): a database used on the
loop thread raises, so a surface that reads the store there fails its test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbstream.engine import loop
from nbstream.engine.result import ChatResult
from nbstream.offline.server import OfflineServer
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.show.panel import ChatPanel
from nbstream.store.cache import CacheRequest, ResponseCache
from nbstream.store.db import STRICT_THREADS
from nbstream.store.threads import ConversationStore

from .conftest import HANG

pytestmark = pytest.mark.timeout(60)


async def on_the_loop(action):  # type: ignore[no-untyped-def]
    return action()


def store_at(tmp_path: Path) -> ConversationStore:
    return ConversationStore.open(tmp_path / "conversations.sqlite", notebook="nb.ipynb")


def test_the_tests_run_with_strict_threads() -> None:
    assert os.environ.get(STRICT_THREADS) == "1"


@pytest.mark.parametrize(
    "action",
    [
        lambda store: store.thread("default"),
        lambda store: store.messages("default", "next"),
        lambda store: store.record("default", "q", ChatResult(text="a")),
        lambda store: store.unsaved_problem(),
        lambda store: store.threads(),
    ],
    ids=["thread", "messages", "record", "unsaved_problem", "threads"],
)
def test_store_reads_and_writes_on_the_loop_thread_raise(tmp_path: Path, action) -> None:
    store = store_at(tmp_path)
    said = r"^database I/O on nbstream's loop thread: run it in an executor$"
    with pytest.raises(AssertionError, match=said):
        loop.run(on_the_loop(lambda: action(store)))
    assert store.unsaved == 0 and store.thread("default").exchanges == []


def test_the_same_calls_off_the_loop_thread_work(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.record("default", "q", ChatResult(text="a"))
    assert [ex.user for ex in store.thread().exchanges] == ["q"]


def test_a_cache_read_on_the_loop_thread_raises(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    asked = CacheRequest("h", "m", [{"role": "user", "content": "q"}], {})
    cache.put(asked, ChatResult(text="a"))
    with pytest.raises(AssertionError, match="loop thread"):
        loop.run(on_the_loop(lambda: cache.get(asked.key)))


def test_the_latest_view_is_read_on_the_loop_thread_without_io(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.set_system("default", "be brief")
    store.record("default", "q1", ChatResult(text="a1"))
    seen = loop.run(on_the_loop(lambda: store.latest("default")))
    assert seen.system == "be brief" and [ex.user for ex in seen.exchanges] == ["q1"]
    seen.exchanges.clear()  # a copy: the store's view is untouched
    assert [ex.user for ex in store.latest().exchanges] == ["q1"]


def test_the_latest_view_includes_changes_that_could_not_be_written(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    store = ConversationStore.open(tmp_path / "not-a-folder" / "c.sqlite", notebook="nb.ipynb")
    store.record("default", "kept in memory", ChatResult(text="b"))
    assert store.unsaved == 1
    assert [ex.user for ex in store.latest().exchanges] == ["kept in memory"]
    store.undo()
    assert store.latest().exchanges == []


def test_the_latest_view_follows_another_kernels_turns_once_picked_up(tmp_path: Path) -> None:
    mine, theirs = store_at(tmp_path), store_at(tmp_path)
    mine.record("default", "mine", ChatResult(text="a"))
    theirs.record("default", "theirs", ChatResult(text="b"))
    assert [ex.user for ex in mine.latest().exchanges] == ["mine"]  # not read yet
    mine.record("default", "mine again", ChatResult(text="c"))  # a write picks theirs up
    assert [ex.user for ex in mine.latest().exchanges] == ["mine", "theirs", "mine again"]


def test_a_panel_turn_redraws_its_transcript_without_touching_the_database_on_the_loop(
    server: OfflineServer, tmp_path: Path, capsys
) -> None:
    session = Session(
        NbStream(base_url=server.url, model="nbstream-demo", max_retries=0),
        store_at(tmp_path),
    )
    panel = ChatPanel("default", session=session)
    try:
        panel._ipython_display_()  # shown, so each turn redraws its transcript output
        capsys.readouterr()
        panel.send("Hello transcript")
        result = panel.wait(HANG)
        assert result is not None and panel.error is None
        redrawn = capsys.readouterr().out
        assert "You: Hello transcript" in redrawn and "1 turn" in redrawn
        assert [ex.user for ex in session.store.thread().exchanges] == ["Hello transcript"]
    finally:
        panel.close()
