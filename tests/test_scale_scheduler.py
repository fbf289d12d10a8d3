"""The scheduler of data-scale runs against the offline server: items from the record are kept
and not asked, finished items are recorded, max_cost stops before crossing; and, through
`nbstream.map`, a server that paces: a 429 storm, a request budget told in x-ratelimit headers,
a server that serves a few at a time (FAULTS 6, 7, 33)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import nbstream
from nbstream.engine.loop import run as on_loop
from nbstream.engine.result import ChatResult, Status
from nbstream.offline.server import OfflineServer, Pacing
from nbstream.scale.jobs import jobs_for
from nbstream.scale.pacer import Pacer
from nbstream.scale.progress import Progress
from nbstream.scale.scheduler import Plan, Scheduler
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.store.runs import RunRecord
from nbstream.turn import TurnOptions

from .conftest import SECRET_KEY


@pytest.fixture
def paced(request, monkeypatch, tmp_path) -> Iterator[tuple[OfflineServer, Session]]:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.delenv("NBSTREAM_CACHE", raising=False)
    with OfflineServer(rate=0, pacing=request.param) as server:
        config = NbStream(base_url=server.url, model="nbstream-demo", max_retries=1)
        yield server, Session(config, cache=tmp_path / ".nbstream" / "cache.sqlite")


def run(session: Session, n: int, **kw: Any) -> list[Any]:
    items = [f"item {i}" for i in range(n)]
    return nbstream.map(items, "Echo {item}", session=session, show=False, **kw)


@pytest.mark.parametrize("paced", [Pacing(storm=0.2, retry_after=0.05)], indirect=True)
def test_a_429_storm_loses_no_item(paced) -> None:
    server, session = paced
    session.config.max_retries = 0  # every refusal goes back to the scheduler's queue
    results = run(session, 40, concurrency=8)
    assert [r.status for r in results] == [Status.COMPLETE] * 40
    for i, result in enumerate(results):
        assert f"> Echo item {i}\n" in result.text
    statuses = [record.status for record in server.log.records]
    assert statuses.count(429) >= 8 and statuses.count(200) == 40


@pytest.mark.parametrize("paced", [Pacing(storm=1.0, retry_after=3600)], indirect=True)
def test_a_retry_after_past_the_cap_fails_each_item_without_waiting(paced) -> None:
    server, session = paced
    results = run(session, 3, concurrency=1)
    assert [r.status for r in results] == [Status.FAILED] * 3
    assert "asks to wait 3600 s" in results[0].error
    assert len(server.log.records) == 3  # no retry of a wait nbstream will not make


@pytest.mark.parametrize("paced", [Pacing(per_window=4, window=1.0)], indirect=True)
def test_a_request_budget_in_headers_is_kept_to_and_every_item_finishes(paced) -> None:
    server, session = paced
    results = run(session, 10, concurrency=4)
    assert [r.status for r in results] == [Status.COMPLETE] * 10
    # Told the budget, the pacer waits for the window's reset instead of asking into a 429.
    assert [record.status for record in server.log.records].count(429) == 0


@pytest.mark.parametrize("paced", [Pacing(capacity=2)], indirect=True)
def test_a_server_serving_two_at_a_time_queues_the_rest_and_answers_every_item(paced) -> None:
    server, session = paced
    results = run(session, 12, nbstream={"tokens": 20, "rate": 200})
    assert [r.status for r in results] == [Status.COMPLETE] * 12
    spans = [(r.started, r.ended or r.started) for r in server.log.records]
    assert max(sum(a <= t < b for a, b in spans) for t, _ in spans) == 2


@pytest.fixture
def session(server, log, monkeypatch, tmp_path) -> Session:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.delenv("NBSTREAM_CACHE", raising=False)
    config = NbStream(base_url=server.url, model="nbstream-demo", max_retries=1)
    return Session(config, cache=tmp_path / ".nbstream" / "cache.sqlite")


ONE_OFF = TurnOptions(no_history=True)  # as map's items are: no thread to share


class Ends:
    """A watch that notes which items ended, in the order they did."""

    def __init__(self) -> None:
        self.ended: list[tuple[int, str | None]] = []

    def update(self, index: int) -> Any:
        return lambda result: None

    def end(self, index: int, result: ChatResult, error: str | None = None) -> None:
        self.ended.append((index, error))


def test_items_from_the_record_are_kept_and_the_rest_asked_and_recorded(
    session, log, tmp_path
) -> None:
    jobs = jobs_for(["a", "b", "c"], "Echo {item}")
    record = RunRecord(tmp_path / "runs.sqlite")
    plan = Plan(keys=["ka", "kb", "kc"], record=record)
    progress, watch = Progress(3), Ends()
    scheduler = Scheduler(session, ONE_OFF, Pacer(1), progress, plan, watch)
    earlier = {1: ChatResult(text="from the record")}
    results = on_loop(scheduler.run(jobs, earlier))
    assert results[1].text == "from the record"
    assert "> Echo a\n" in results[0].text and "> Echo c\n" in results[2].text
    assert [r.body["messages"][-1]["content"] for r in log.records] == ["Echo a", "Echo c"]
    assert watch.ended == [(1, None), (0, None), (2, None)]
    assert sorted(record.finished(["ka", "kb", "kc"])) == ["ka", "kc"]
    assert (progress.done, progress.resumed) == (3, 1)


def test_max_cost_fails_the_items_it_would_cross_without_sending_them(session, log) -> None:
    session.config.prices = {"nbstream-demo": [1e6, 1e6]}  # a dollar a token: one reply > $2
    jobs = jobs_for(["a", "b", "c"], "Echo {item}")
    plan = Plan(cost_each=1.0, max_cost=2.5)
    progress, watch = Progress(3), Ends()
    scheduler = Scheduler(session, ONE_OFF, Pacer(1), progress, plan, watch)
    results = on_loop(scheduler.run(jobs, {}))
    assert [r.status for r in results] == [Status.COMPLETE, Status.FAILED, Status.FAILED]
    assert results[2].error == "not sent: stopped before crossing max_cost $2.5"
    assert len(log.records) == 1 and progress.stopped.endswith("max_cost $2.5")
    assert [index for index, _ in watch.ended] == [0, 1, 2]


def test_max_cost_counts_the_items_started_together(session, log) -> None:
    # Four may run at once, but only two fit under the budget: the other two are never sent.
    session.config.prices = {"nbstream-demo": [0.0, 0.0]}
    jobs = jobs_for(["a", "b", "c", "d"], "Echo {item}")
    plan = Plan(cost_each=1.0, max_cost=2.5)
    progress, watch = Progress(4), Ends()
    scheduler = Scheduler(session, ONE_OFF, Pacer(4), progress, plan, watch)
    results = on_loop(scheduler.run(jobs, {}))
    assert [r.status for r in results] == [Status.COMPLETE] * 2 + [Status.FAILED] * 2
    assert len(log.records) == 2
