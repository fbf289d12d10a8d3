"""`nbstream.map(..., mode="batch")` end to end against the offline server's Batch API: the same
results as live mode, failed and expired lines as failed items, results fetched later
(`wait=False`, `collect`, a re-run, a new session), `cancel`, and servers without the API."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pandas as pd
import pytest

import nbstream
from nbstream.engine.result import Status
from nbstream.errors import ConfigError, NbStreamError
from nbstream.offline.server import OfflineServer
from nbstream.session import Session
from nbstream.settings import NbStream

from .conftest import SECRET_KEY


def new_session(server: OfflineServer, folder) -> Session:
    config = NbStream(base_url=server.url, model="nbstream-demo", max_retries=1)
    return Session(config, cache=folder / ".nbstream" / "cache.sqlite")


@pytest.fixture
def session(server, log, monkeypatch, tmp_path) -> Session:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.delenv("NBSTREAM_CACHE", raising=False)
    return new_session(server, tmp_path)


ITEMS = [f"item {i}" for i in range(30)]


def run(session: Session, items: Any = ITEMS, **kw: Any) -> Any:
    kw.setdefault("nbstream", {"echo": True, "rate": 0})
    return nbstream.map(items, "Say {item}", session=session, show=False, **kw)


def batch_rows(session: Session) -> list[tuple[str, str]]:
    with sqlite3.connect(session.cache.path.with_name("runs.sqlite")) as db:
        return list(db.execute("SELECT id, state FROM batches ORDER BY created"))


def test_batch_results_match_live_results_in_content_and_order(session, log, tmp_path) -> None:
    batched = run(session, mode="batch")
    assert log.records == []  # nothing went through the live endpoint
    live = run(new_session(session_server(session), tmp_path / "live"))
    assert [r.text for r in batched] == [r.text for r in live] == [f"Say {x}" for x in ITEMS]
    assert [r.status for r in batched] == [Status.COMPLETE] * len(ITEMS)
    assert [r.usage.completion_tokens for r in batched] == [r.usage.completion_tokens for r in live]


def session_server(session: Session) -> Any:
    return type("S", (), {"url": session.config.base_url})()


def test_a_dataframe_in_batch_mode_comes_back_at_batch_prices(session) -> None:
    session.config.prices = {"nbstream-demo": [1_000_000.0, 1_000_000.0]}  # a dollar a token
    frame = pd.DataFrame({"q": ["a", "b"]}, index=["x", "y"])
    out = nbstream.map(frame, "{q}", session=session, show=False, mode="batch",
                       nbstream={"text": "yes sir"})  # fmt: skip
    assert list(out.index) == ["x", "y"] and list(out["text"]) == ["yes sir"] * 2
    tokens = out["prompt_tokens"] + out["completion_tokens"]
    assert list(out["cost"]) == list(tokens * 0.5)


def test_failed_and_expired_lines_come_back_as_failed_items(session, fault_key) -> None:
    items = ["ok", "bad", "ok too", "late", "later"]
    opts = [{"echo": True}, {"fail_status": 400, "key": fault_key}, {"echo": True},
            {"expire": True}, {"echo": True}]  # fmt: skip
    results = [
        run(session, [item], nbstream=opt, mode="batch")[0]
        for item, opt in zip(items[:3], opts[:3], strict=True)
    ]
    frame = pd.DataFrame({"q": items[3:]})
    late = nbstream.map(frame, "{q}", session=session, show=False, mode="batch",
                        nbstream={"expire": True})  # fmt: skip
    assert [r.status for r in results] == [Status.COMPLETE, Status.FAILED, Status.COMPLETE]
    assert results[1].error == "400: Offline fault: HTTP 400."
    assert list(late["status"]) == ["failed", "failed"]
    assert all(error.startswith("batch_expired: ") for error in late["error"])


def test_wait_false_returns_a_handle_and_collect_fetches_later(session) -> None:
    handle = run(session, ITEMS[:5], mode="batch", wait=False,
                 nbstream={"echo": True, "batch_delay": 0.05})  # fmt: skip
    assert isinstance(handle, nbstream.BatchHandle) and len(handle.ids) == 1
    (batch_id,) = handle.ids
    while True:
        try:
            results = nbstream.collect(batch_id, session=session)
            break
        except NbStreamError as err:
            assert f"batch {batch_id} is " in err.message
            time.sleep(0.05)
    assert [r.text for r in results] == [f"Say {x}" for x in ITEMS[:5]]
    assert batch_rows(session) == [(batch_id, "collected")]


def test_rerunning_the_cell_waits_for_the_batch_it_sent_instead_of_sending_again(
    session, tmp_path, server
) -> None:
    opts = {"echo": True, "batch_delay": 0.02}
    run(session, ITEMS[:6], mode="batch", wait=False, nbstream=opts)
    # A new kernel: a new session over the same folder finds the batch in the record.
    again = run(new_session(server, tmp_path), ITEMS[:6], mode="batch", nbstream=opts)
    assert [r.text for r in again] == [f"Say {x}" for x in ITEMS[:6]]
    assert [state for _, state in batch_rows(session)] == ["collected"]
    # Collected items come from the record: no new batch at all.
    run(session, ITEMS[:6], mode="batch", nbstream=opts)
    assert len(batch_rows(session)) == 1


def test_cancel_stops_a_batch_and_its_unprocessed_items_come_back_failed(session) -> None:
    # 20 lines 1 s apart: the cancel lands long before the last one starts, even on a busy
    # machine, and the test waits only for the line in progress.
    handle = run(session, ITEMS[:20], mode="batch", wait=False,
                 nbstream={"echo": True, "batch_delay": 1.0})  # fmt: skip
    (batch_id,) = handle.ids
    assert nbstream.cancel(batch_id, session=session) in ("cancelling", "cancelled")
    while True:
        try:
            results = handle.collect(session=session)
            break
        except NbStreamError:
            time.sleep(0.05)
    assert Status.FAILED in [r.status for r in results]
    assert next(r.error for r in results if r.status is Status.FAILED).startswith("no result")


def test_batch_mode_refuses_tools(session) -> None:
    with pytest.raises(ConfigError, match="batch mode does not run tools"):
        run(session, ["a"], mode="batch", tools=[{"type": "function"}])
