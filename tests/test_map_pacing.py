"""`nbstream.map` against an offline server that paces the whole server: a 429 storm, a request
budget told in x-ratelimit headers, a server that serves a few at a time (FAULTS 6, 7, 33)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import nbstream
from nbstream.engine.result import Status
from nbstream.offline.server import OfflineServer, Pacing
from nbstream.session import Session
from nbstream.settings import NbStream

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
