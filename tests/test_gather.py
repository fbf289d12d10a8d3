"""Many turns at once: the board, and gather/compare against
the offline server (results in prompt order, failures on their item, compare's branches)."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from typing import Any

import pytest

from nbstream.engine.result import ChatResult, Status
from nbstream.errors import ThreadBusyError
from nbstream.gather import Board, Gathering, compare_turns
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.show.grid import live_html, render
from nbstream.show.live import driver
from nbstream.show.surfaces import NullSurface
from nbstream.turn import TurnOptions

from .conftest import HANG, SECRET_KEY


@pytest.fixture
def session(server, log, monkeypatch, tmp_path) -> Session:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.delenv("NBSTREAM_CACHE", raising=False)
    config = NbStream(base_url=server.url, model="nbstream-demo", max_retries=1)
    return Session(config, cache=tmp_path / "cache.sqlite")


def one_offs(**server_options: Any) -> TurnOptions:
    return TurnOptions(no_history=True, params={"nbstream": server_options})


#: Prompts whose replies end last to first when the server echoes them (`echo`: a reply as
#: long as its prompt): 300, 150 and 1 tokens at 50 a second end about 3 s apart, far more
#: than a busy machine makes their starts differ by.
ENDING_LAST_TO_FIRST = ["L" + " long" * 299, "M" + " mid" * 149, "S"]
ECHOED_AT_50 = {"echo": True, "rate": 50}


# --- Board --------------------------------------------------------------------------------


def test_the_board_counts_changes_and_wakes_the_main_thread_when_an_item_ends() -> None:
    board = Board(["a", "b"])
    board.update(1)(ChatResult(text="so far", status=Status.INCOMPLETE))
    assert board.version == 1 and not board.wake.is_set()
    assert board.items[1].result.text == "so far" and not board.items[1].done
    board.end(0, ChatResult(text="failed", status=Status.FAILED), "boom")
    assert board.version == 2 and board.wake.is_set()
    first = board.items[0]
    assert (first.title, first.done, first.error, first.result.text) == (
        "a",
        True,
        "boom",
        "failed",
    )


# --- gather and compare against the offline server ----------------------------------------


def test_gather_returns_results_in_prompt_order_whatever_order_they_finish_in(session, log) -> None:
    prompts = ENDING_LAST_TO_FIRST
    results = Gathering(session, prompts, one_offs(**ECHOED_AT_50)).run(False)
    finishing = sorted(log.records, key=lambda record: record.ended or 0)
    assert [r.body["messages"][-1]["content"] for r in finishing] == prompts[::-1]
    assert [result.status for result in results] == [Status.COMPLETE] * 3
    assert [result.text for result in results] == prompts  # each reply echoes its own prompt


def test_a_failure_stays_on_its_item(session, log, fault_key, capsys) -> None:
    # One at a time, so the failing first request is the first prompt's.
    options = one_offs(text="fine", fail_status=400, key=fault_key)
    results = Gathering(session, ["a", "b", "c"], options, 1).run(True)
    assert [result.status for result in results] == [
        Status.FAILED,
        Status.COMPLETE,
        Status.COMPLETE,
    ]
    assert results[0].error.startswith("400 from 127.0.0.1:")
    assert [result.text for result in results[1:]] == ["fine", "fine"]
    grid = capsys.readouterr().out
    assert "[1] a\n\n[failed] 400 from 127.0.0.1:" in grid
    assert "3/3 requests · " in grid and grid.rstrip().endswith(" · 1 failed")


def test_a_rate_limited_stream_waits_and_retries_and_every_item_completes(
    session, log, fault_key
) -> None:
    options = one_offs(text="ok", fail_status=429, retry_after="0", key=fault_key)
    results = Gathering(session, ["a", "b", "c"], options).run(False)
    assert [result.text for result in results] == ["ok"] * 3
    assert sorted(record.status for record in log.records) == [200, 200, 200, 429]


def test_agather_returns_results_in_prompt_order(session) -> None:
    prompts = [f"prompt {i}" for i in range(4)]

    async def main() -> list[ChatResult]:
        return await Gathering(session, prompts, one_offs(rate=0)).arun(False)

    results = asyncio.run(main())
    assert [f"> prompt {i}\n" in result.text for i, result in enumerate(results)] == [True] * 4


def test_gathering_nothing_sends_nothing(session, log, capsys) -> None:
    assert Gathering(session, [], one_offs()).run(True) == []
    assert log.records == [] and capsys.readouterr().out == ""


def test_an_interrupt_cancels_every_stream_and_closes_every_connection(session, log) -> None:
    def interrupt_once_all_stream() -> None:
        streaming = lambda records: (  # noqa: E731
            len(records) == 3 and all(r.chunks_sent > 1 for r in records)
        )
        if log.wait_for(streaming, HANG):
            _thread.interrupt_main()

    threading.Thread(target=interrupt_once_all_stream, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        Gathering(session, ["a", "b", "c"], one_offs(tokens=2000, rate=20)).run(False)
    assert log.wait_for(lambda records: [r.outcome for r in records] == ["disconnected"] * 3, HANG)


def test_gather_on_a_thread_sends_its_history_and_records_in_prompt_order(session, log) -> None:
    before = TurnOptions(thread="t", params={"nbstream": {"text": "earlier"}})
    session.chat("Before", before, driver(NullSurface()))
    # The replies end last to first: recording them as they end would show here.
    prompts = ENDING_LAST_TO_FIRST
    options = TurnOptions(thread="t", params={"nbstream": ECHOED_AT_50})
    results = Gathering(session, prompts, options).run(False)
    for record in log.records[1:]:
        assert [m["content"] for m in record.body["messages"]][:2] == ["Before", "earlier"]
        assert len(record.body["messages"]) == 3  # the history as it stood, not each other
    exchanges = session.store.thread("t").exchanges
    assert [e.user for e in exchanges] == ["Before", *prompts]
    assert [e.result for e in exchanges[1:]] == results


def test_gather_on_a_thread_holds_it_and_an_interrupt_keeps_what_finished(session, log) -> None:
    # Echoed replies (`echo`): S's is 1 token, L's 2,000, 100 s at 20 a second, so L is still
    # streaming when the interrupt lands, however late a busy machine lets it land.
    options = TurnOptions(thread="t", params={"nbstream": {"echo": True, "rate": 20}})
    gathering = Gathering(session, ["L" + " long" * 1999, "S"], options)

    def interrupt_once_the_short_one_ended() -> None:
        # The server's "complete" is sent, not yet read: wait until the client has ended it too.
        if log.wait_for(lambda records: any(r.outcome == "complete" for r in records), HANG):
            deadline = time.monotonic() + HANG
            while 1 not in gathering._scheduler.ended and time.monotonic() < deadline:
                time.sleep(0.01)
            _thread.interrupt_main()

    threading.Thread(target=interrupt_once_the_short_one_ended, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        gathering.run(False)
    assert [e.user for e in session.store.thread("t").exchanges] == ["S"]
    with session.holding(options), pytest.raises(ThreadBusyError):
        Gathering(session, ["a"], options).run(False)


def test_agather_on_a_thread_records_its_exchanges(session) -> None:
    options = TurnOptions(thread="a", params={"nbstream": {"rate": 0}})
    asyncio.run(Gathering(session, ["one", "two"], options).arun(False))
    assert [e.user for e in session.store.thread("a").exchanges] == ["one", "two"]


def test_compare_continues_the_thread_in_one_branch_per_model(session, log, capsys) -> None:
    session.chat("Before", TurnOptions(thread="t", params={"nbstream": {"text": "earlier"}}),
                 driver(NullSurface()))  # fmt: skip
    options = TurnOptions(thread="t", params={"nbstream": {"rate": 0}})
    results = compare_turns(session, "Q", ["nbstream-demo", "fault-length"], options, show=True)
    assert [result.finish_reason for result in results] == ["stop", "length"]
    for record in log.records[1:]:
        assert [m["content"] for m in record.body["messages"]] == ["Before", "earlier", "Q"]
    for model, result in zip(["nbstream-demo", "fault-length"], results, strict=True):
        branch = session.store.thread(f"t@{model}").exchanges
        assert [e.user for e in branch] == ["Before", "Q"] and branch[1].result == result
    assert [e.user for e in session.store.thread("t").exchanges] == ["Before"]
    table = capsys.readouterr().out.split("| model |", 1)[1]
    rows = [line.split(" | ")[0] for line in table.splitlines()[2:]]
    assert rows == ["| nbstream-demo", "| fault-length"]


def test_a_model_that_fails_in_a_comparison_leaves_its_branch_as_it_was(session) -> None:
    options = TurnOptions(thread="c", params={"nbstream": {"rate": 0}})
    results = compare_turns(session, "Q", ["nbstream-demo", "fault-401"], options, show=False)
    assert [result.status for result in results] == [Status.COMPLETE, Status.FAILED]
    assert results[1].error.startswith("401 from 127.0.0.1:") and SECRET_KEY not in results[1].error
    assert [e.user for e in session.store.thread("c@nbstream-demo").exchanges] == ["Q"]
    assert session.store.thread("c@fault-401").exchanges == []


def test_a_streaming_grid_renders_again_only_the_replies_that_changed() -> None:
    board = Board([f"prompt {i}" for i in range(5)])
    board.finished = board.started + 1.0  # the footer's wall time held still between the draws
    for i in range(5):
        board.update(i)(ChatResult(text=f"reply {i} so far", status=Status.INCOMPLETE))
    live_html.cache_clear()
    first = render(board, final=False)
    board.update(3)(ChatResult(text="reply 3 grew", status=Status.INCOMPLETE))
    second = render(board, final=False)
    assert live_html.cache_info().misses == 5 + 1  # the first draw, then reply 3 alone
    assert first["text/html"].replace("reply 3 so far", "reply 3 grew") == second["text/html"]
