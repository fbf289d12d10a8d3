"""The conversation store: history, re-runs, turns, persistence, export, notebook paths."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbstream.engine.result import ChatResult, Status, Timings, ToolCall, Usage
from nbstream.errors import StateFileError, ThreadBusyError
from nbstream.store.paths import notebook_path, state_path
from nbstream.store.threads import ConversationStore, Exchange

from .conftest import HANG

# 2026-11-24 10:15:00 local time, so set-aside names are predictable.
NOW = 1795515300.0


def reply(text: str = "ok", status: Status = Status.COMPLETE, **extra: object) -> ChatResult:
    return ChatResult(text=text, model="m", status=status, **extra)  # type: ignore[arg-type]


def roles(messages: list[dict[str, str]]) -> list[str]:
    return [m["role"] for m in messages]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / ".nbstream" / "conversations.sqlite"


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(NOW))


# -- history ---------------------------------------------------------------------------------


def test_messages_start_with_system_then_alternate_and_end_with_the_new_question() -> None:
    store = ConversationStore()
    store.set_system("default", "be brief")
    store.record("default", "one", reply("1"))
    store.record("default", "two", reply("2"))
    assert store.messages("default", "three") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": "three"},
    ]


def test_a_new_thread_sends_only_the_question() -> None:
    assert ConversationStore().messages("fresh", "hi") == [{"role": "user", "content": "hi"}]


def test_limit_keeps_only_the_most_recent_exchanges() -> None:
    store = ConversationStore()
    store.set_system("default", "sys")
    for n in range(4):
        store.record("default", f"q{n}", reply(f"a{n}"))
    contents = [m["content"] for m in store.messages("default", "new", limit=2)]
    assert contents == ["sys", "q2", "a2", "q3", "a3", "new"]
    assert roles(store.messages("default", "new", limit=0)) == ["system", "user"]
    assert len(store.messages("default", "new", limit=10)) == 10
    with pytest.raises(ValueError, match="limit"):
        store.messages("default", "new", limit=-1)


def test_rerunning_a_cell_replaces_its_exchange_in_place() -> None:
    store = ConversationStore()
    for n in range(4):
        store.record("default", f"q{n}", reply(f"a{n}"), cell_id=f"c{n}")
    store.record("default", "q1 again", reply("a1 again"), cell_id="c1")
    thread = store.thread("default")
    assert [ex.user for ex in thread.exchanges] == ["q0", "q1 again", "q2", "q3"]
    assert [ex.cell_id for ex in thread.exchanges] == ["c0", "c1", "c2", "c3"]


def test_rerunning_a_cell_whose_first_run_failed_appends_once() -> None:
    store = ConversationStore()
    store.record("default", "q0", reply("a0"), cell_id="c0")
    # The failed first run of c1 recorded nothing; its re-run must add exactly one exchange.
    store.record("default", "q1", reply("a1"), cell_id="c1")
    store.record("default", "q1", reply("a1'"), cell_id="c1")
    assert [ex.result.text for ex in store.thread("default").exchanges] == ["a0", "a1'"]


def test_rerunning_a_cell_sends_only_the_history_before_it() -> None:
    store = ConversationStore()
    for n in range(4):
        store.record("default", f"q{n}", reply(f"a{n}"), cell_id=f"c{n}")
    contents = [m["content"] for m in store.messages("default", "q1 again", cell_id="c1")]
    assert contents == ["q0", "a0", "q1 again"]
    unknown = store.messages("default", "new", cell_id="elsewhere")
    assert len(unknown) == 9


def test_cells_without_an_id_always_append() -> None:
    store = ConversationStore()
    store.record("default", "q", reply())
    store.record("default", "q", reply())
    assert len(store.thread("default").exchanges) == 2


@pytest.mark.parametrize("status", [Status.INTERRUPTED, Status.INCOMPLETE, Status.FAILED])
def test_partial_replies_are_sent_as_history(status: Status) -> None:
    store = ConversationStore()
    store.record("default", "q", reply("half an ans", status, error="boom"))
    assert store.messages("default", "go on")[1] == {"role": "assistant", "content": "half an ans"}


def test_a_refusal_stands_in_for_missing_reply_text() -> None:
    store = ConversationStore()
    store.record("default", "q", reply("", refusal="I can't help with that"))
    assert store.messages("default", "why")[1]["content"] == "I can't help with that"


def test_an_exchange_with_no_reply_content_is_left_out_entirely() -> None:
    store = ConversationStore()
    call = ToolCall(index=0, id="t1", name="lookup", arguments="{}")
    store.record("default", "q0", reply(""))
    store.record("default", "q1", reply("", tool_calls=(call,)))
    store.record("default", "q2", reply("a2"))
    assert roles(store.messages("default", "q3")) == ["user", "assistant", "user"]
    assert store.messages("default", "q3")[0]["content"] == "q2"


def test_undo_removes_and_returns_the_last_exchange() -> None:
    store = ConversationStore()
    store.record("default", "q0", reply("a0"))
    store.record("default", "q1", reply("a1"))
    undone = store.undo("default")
    assert isinstance(undone, Exchange) and undone.user == "q1"
    assert [ex.user for ex in store.thread("default").exchanges] == ["q0"]
    assert store.undo("default") is not None
    assert store.undo("default") is None
    assert store.undo("never-used") is None


def test_reset_forgets_exchanges_but_keeps_the_system_prompt() -> None:
    store = ConversationStore()
    store.set_system("default", "sys")
    store.record("default", "q", reply())
    store.reset("default")
    assert store.messages("default", "again") == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "again"},
    ]


def test_an_empty_system_prompt_clears_it() -> None:
    store = ConversationStore()
    store.set_system("default", "sys")
    store.set_system("default", "")
    assert store.thread("default").system is None


def test_threads_are_isolated_and_listed_in_creation_order() -> None:
    store = ConversationStore()
    store.record("b", "to b", reply("from b"))
    store.set_system("a", "sys a")
    store.record("a", "to a", reply("from a"))
    assert store.threads() == ["b", "a"]
    assert [m["content"] for m in store.messages("b", "x")] == ["to b", "from b", "x"]
    store.reset("a")
    assert len(store.thread("b").exchanges) == 1


def test_thread_returns_a_snapshot_that_cannot_change_the_store() -> None:
    store = ConversationStore()
    store.record("default", "q", reply())
    snapshot = store.thread("default")
    snapshot.exchanges.clear()
    snapshot.system = "hijacked"
    assert len(store.thread("default").exchanges) == 1
    assert store.thread("default").system is None


def test_reading_an_unknown_thread_does_not_create_it() -> None:
    store = ConversationStore()
    assert store.thread("ghost").exchanges == []
    assert store.threads() == []


def test_record_stamps_the_exchange_with_the_store_clock() -> None:
    store = ConversationStore(clock=lambda: NOW)
    exchange = store.record("default", "q", reply(), cell_id="c")
    assert exchange.created == NOW
    assert exchange.status is Status.COMPLETE
    assert len(exchange.turn_id) == 32


def test_summary_counts_turns_that_did_not_complete() -> None:
    store = ConversationStore()
    assert store.summary("default") == "no turns"
    store.record("default", "q", reply())
    assert store.summary("default") == "1 turn"
    store.record("default", "q", reply(status=Status.INTERRUPTED))
    store.record("default", "q", reply())
    assert store.summary("default") == "3 turns, 1 interrupted"


# -- turns -----------------------------------------------------------------------------------


def test_a_second_turn_on_a_busy_thread_fails_at_once() -> None:
    store = ConversationStore()
    with store.turn("default"):
        with pytest.raises(ThreadBusyError) as caught, store.turn("default"):
            pass
        with store.turn("other"):
            pass
    assert caught.value.message == "a reply is already streaming on thread 'default'"
    assert "-t NAME" in caught.value.hint


def test_a_busy_thread_is_refused_from_another_os_thread_without_blocking() -> None:
    store = ConversationStore()
    errors: list[BaseException] = []

    def second_turn() -> None:
        try:
            with store.turn("default"):
                pass
        except ThreadBusyError as err:
            errors.append(err)

    with store.turn("default"):
        worker = threading.Thread(target=second_turn)
        worker.start()
        # Joined while the turn is held: a worker late to start must still find it busy.
        worker.join(timeout=HANG)
    assert not worker.is_alive() and len(errors) == 1


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_a_turn_is_released_on_every_exit(error: type[BaseException]) -> None:
    store = ConversationStore()
    with pytest.raises(error), store.turn("default"):
        raise error()
    with store.turn("default"):
        pass


# -- persistence -----------------------------------------------------------------------------


def full_result() -> ChatResult:
    return ChatResult(
        text="partial ✓",
        status=Status.INTERRUPTED,
        model="llama",
        response_id="r1",
        created=1700000000,
        system_fingerprint="fp",
        finish_reason=None,
        refusal="no",
        tool_calls=(ToolCall(index=0, id="t", name="f", arguments='{"a": 1}'),),
        usage=Usage(3, 5, 8, {"completion_tokens_details": {"reasoning_tokens": 2}}, True),
        timings=Timings(started_at=NOW, first_token=0.1, last_token=0.5, total=0.6),
        chunk_count=7,
        error="stopped",
        notices=("only the first of several choices is shown",),
        backend="vllm",
        replayed=True,
    )


def open_store(state: Path, notebook: str = "analysis.ipynb", **options: object):
    return ConversationStore.open(state, notebook=notebook, clock=lambda: NOW, **options)


def test_a_saved_store_loads_back_with_every_field(state: Path) -> None:
    store = open_store(state)
    store.set_system("default", "sys")
    saved = store.record("default", "q", full_result(), cell_id="c1")
    store.record("other", "q2", reply())
    loaded = open_store(state)
    assert loaded.restored == 2
    assert loaded.warnings == []
    assert loaded.threads() == ["default", "other"]
    assert loaded.thread("default").system == "sys"
    assert loaded.thread("default").exchanges == [saved]
    assert loaded.thread("default").exchanges[0].status is Status.INTERRUPTED


def test_an_exchange_row_keeps_its_parts_in_versioned_json(state: Path) -> None:
    open_store(state).record("default", "q", reply(), cell_id="c")
    with sqlite3.connect(state) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        cell_id, parts = db.execute("SELECT cell_id, parts FROM exchanges").fetchone()
    record = json.loads(parts)
    assert version == 2 and cell_id == "c"  # 2: images are kept in their own table
    assert set(record) == {"v", "user", "result"} and record["v"] == 1
    assert record["user"] == "q" and record["result"]["status"] == "complete"


def test_every_change_is_saved(state: Path) -> None:
    store = open_store(state)
    store.record("default", "q", reply())
    assert open_store(state).restored == 1
    store.undo("default")
    assert open_store(state).restored == 0
    store.set_system("default", "sys")
    assert open_store(state).thread("default").system == "sys"
    store.record("default", "q", reply())
    store.fork("default", "copy")
    assert open_store(state).restored == 2
    store.reset("copy")
    assert open_store(state).restored == 1


def test_each_notebook_in_a_folder_has_its_own_threads(state: Path) -> None:
    open_store(state, "one.ipynb").record("default", "for one", reply())
    open_store(state, "two.ipynb").record("default", "for two", reply())
    assert [ex.user for ex in open_store(state, "one.ipynb").thread().exchanges] == ["for one"]
    assert [ex.user for ex in open_store(state, "two.ipynb").thread().exchanges] == ["for two"]


def test_the_database_and_its_side_files_are_private(state: Path) -> None:
    store = open_store(state)
    store.record("default", "q", reply())
    files = sorted(p.name for p in state.parent.iterdir())
    assert files == ["conversations.sqlite", "conversations.sqlite-shm", "conversations.sqlite-wal"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in state.parent.iterdir())
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700


def test_opening_a_missing_database_gives_an_empty_store(state: Path) -> None:
    store = open_store(state)
    assert store.threads() == [] and store.restored == 0 and store.warnings == []
    assert store.problem is None and store.unsaved == 0


def test_a_store_without_a_path_never_touches_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ConversationStore().record("default", "q", reply())
    assert os.listdir(tmp_path) == []


# -- notebook paths --------------------------------------------------------------------------


def test_vscode_names_the_notebook_first(tmp_path: Path) -> None:
    found = notebook_path(
        {"JPY_SESSION_NAME": "/elsewhere/other.ipynb"},
        {"__vsc_ipynb_file__": "/home/me/work/analysis.ipynb"},
        cwd=tmp_path,
    )
    assert found == Path("/home/me/work/analysis.ipynb")


def test_an_absolute_jupyter_session_name_is_used_as_is(tmp_path: Path) -> None:
    found = notebook_path({"JPY_SESSION_NAME": "/srv/nb/analysis.ipynb"}, {}, cwd=tmp_path)
    assert found == Path("/srv/nb/analysis.ipynb")


def test_a_relative_jupyter_session_name_is_a_file_in_the_kernel_directory(
    tmp_path: Path,
) -> None:
    found = notebook_path({"JPY_SESSION_NAME": "projects/q3/analysis.ipynb"}, {}, cwd=tmp_path)
    assert found == tmp_path / "analysis.ipynb"


@pytest.mark.parametrize("session", [None, "", "Console 1", "3f2a-uuid"])
def test_no_notebook_path_when_nothing_names_a_notebook(session: str | None) -> None:
    environ = {} if session is None else {"JPY_SESSION_NAME": session}
    assert notebook_path(environ, {"__vsc_ipynb_file__": None}) is None


def test_state_lives_in_a_hidden_directory_beside_the_notebook() -> None:
    found = state_path(Path("/home/me/work/analysis.ipynb"))
    assert found == Path("/home/me/work/.nbstream/conversations.sqlite")


# -- property --------------------------------------------------------------------------------

texts = st.text(max_size=5)
results = st.builds(
    ChatResult,
    text=texts,
    status=st.sampled_from(Status),
    refusal=st.none() | texts,
)
operations = st.one_of(
    st.tuples(st.just("record"), texts, results, st.none() | st.sampled_from(["c1", "c2", "c3"])),
    st.tuples(st.just("undo")),
    st.tuples(st.just("reset")),
    st.tuples(st.just("system"), st.none() | texts),
)


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(operations, max_size=25), limit=st.none() | st.integers(0, 5))
def test_history_always_alternates_and_starts_with_the_system_prompt(
    ops: list[tuple], limit: int | None
) -> None:
    store = ConversationStore()
    for op in ops:
        if op[0] == "record":
            store.record("t", op[1], op[2], cell_id=op[3])
        elif op[0] == "undo":
            store.undo("t")
        elif op[0] == "reset":
            store.reset("t")
        else:
            store.set_system("t", op[1])
    system = store.thread("t").system
    sent = store.messages("t", "now", limit=limit)
    body = sent[1:] if system else sent
    assert roles(sent[:1]) == ["system"] or not system
    assert roles(body) == ["user", "assistant"] * ((len(body) - 1) // 2) + ["user"]
    assert all(m["content"] for m in body[1::2])
    assert sent[-1] == {"role": "user", "content": "now"}
    cell_ids = [ex.cell_id for ex in store.thread("t").exchanges if ex.cell_id]
    assert len(cell_ids) == len(set(cell_ids))


# -- several kernels on one notebook (FAULTS 35) ---------------------------------------------


def test_a_kernel_sees_what_another_committed_before_its_next_request(state: Path) -> None:
    first, second = open_store(state), open_store(state)
    first.record("default", "from first", reply("1"))
    contents = [m["content"] for m in second.messages("default", "next")]
    assert contents == ["from first", "1", "next"]


def test_interleaved_turns_of_two_kernels_are_kept_in_commit_order(state: Path) -> None:
    first, second = open_store(state), open_store(state)
    for n in range(3):
        first.record("shared", f"first {n}", reply())
        second.record("shared", f"second {n}", reply())
        first.record(f"own {n % 2}", f"first {n}", reply())
    order = [f"{who} {n}" for n in range(3) for who in ("first", "second")]
    for store in (first, second, open_store(state)):
        assert [ex.user for ex in store.thread("shared").exchanges] == order
    assert [ex.user for ex in second.thread("own 0").exchanges] == ["first 0", "first 2"]


def test_a_stale_kernel_never_writes_over_another_kernels_turns(state: Path) -> None:
    first, second = open_store(state), open_store(state)
    first.record("default", "a", reply())
    second.thread("default")  # second's copy now has one exchange
    first.record("default", "b", reply())
    first.set_system("default", "sys")
    second.record("default", "c", reply())  # from the stale copy
    again = open_store(state)
    assert [ex.user for ex in again.thread().exchanges] == ["a", "b", "c"]
    assert again.thread().system == "sys"


def test_two_kernels_rerunning_one_cell_keep_only_the_later_reply(state: Path) -> None:
    first, second = open_store(state), open_store(state)
    first.record("default", "q0", reply("a0"), cell_id="c0")
    first.record("default", "q1", reply("first"), cell_id="c1")
    second.record("default", "q2", reply("a2"), cell_id="c2")
    second.record("default", "q1", reply("second"), cell_id="c1")
    for store in (first, second, open_store(state)):
        texts = [ex.result.text for ex in store.thread().exchanges]
        assert texts == ["a0", "second", "a2"]


def test_undo_and_reset_in_one_kernel_are_seen_by_the_other(state: Path) -> None:
    first, second = open_store(state), open_store(state)
    for n in range(3):
        first.record("default", f"q{n}", reply())
    assert len(second.thread().exchanges) == 3
    first.undo()
    assert [ex.user for ex in second.thread().exchanges] == ["q0", "q1"]
    first.reset()
    assert second.thread().exchanges == [] and second.threads() == ["default"]


# -- renamed notebooks -----------------------------------------------------------------------


def test_a_renamed_notebook_starts_afresh_until_it_adopts_the_old_threads(state: Path) -> None:
    old = open_store(state, "draft.ipynb")
    old.set_system("default", "sys")
    old.record("default", "q", reply())
    old.record("side", "s", reply())
    renamed = open_store(state, "final.ipynb")
    assert renamed.threads() == [] and renamed.restored == 0
    renamed.set_system("side", "an empty thread here gives way")
    assert renamed.adopt("draft.ipynb") == ["default", "side"]
    assert [ex.user for ex in renamed.thread().exchanges] == ["q"]
    assert renamed.thread().system == "sys"
    assert open_store(state, "final.ipynb").restored == 2
    assert open_store(state, "draft.ipynb").threads() == []


def test_adopt_leaves_threads_this_notebook_already_uses(state: Path) -> None:
    open_store(state, "draft.ipynb").record("default", "old", reply())
    open_store(state, "draft.ipynb").record("other", "old other", reply())
    renamed = open_store(state, "final.ipynb")
    renamed.record("default", "new", reply())
    with pytest.raises(StateFileError) as refused:
        renamed.adopt("draft.ipynb")
    assert refused.value.message == (
        "adopted 1 threads of draft.ipynb; not 'default', which this notebook already uses"
    )
    assert refused.value.hint == "clear them here first (%chat reset -t NAME), then adopt again"
    assert [ex.user for ex in renamed.thread().exchanges] == ["new"]
    assert [ex.user for ex in renamed.thread("other").exchanges] == ["old other"]
    assert [ex.user for ex in open_store(state, "draft.ipynb").thread().exchanges] == ["old"]
