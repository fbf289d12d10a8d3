"""The offline server's pacing: a storm refuses exactly its share of chat requests with 429 and
Retry-After, a request budget is told in x-ratelimit headers and refused once spent, and only
chat requests are paced."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from nbstream.offline.server import OfflineServer, Pacing

BODY = {"model": "nbstream-demo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def paced(request: pytest.FixtureRequest) -> Iterator[tuple[OfflineServer, httpx2.Client]]:
    with (
        OfflineServer(rate=0, pacing=request.param) as server,
        httpx2.Client(base_url=server.url, timeout=30) as client,
    ):
        yield server, client


@pytest.mark.parametrize("paced", [Pacing(storm=0.5, retry_after=0.25)], indirect=True)
def test_a_storm_refuses_its_share_evenly_and_says_when_to_retry(paced) -> None:
    server, client = paced
    answers = [client.post("/chat/completions", json=BODY) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 429, 200, 429]
    assert [a.headers.get("retry-after") for a in answers] == [None, "0.25", None, "0.25"]
    assert answers[1].json()["error"]["code"] == "rate_limit_exceeded"
    assert [r.status for r in server.log.records] == [200, 429, 200, 429]


@pytest.mark.parametrize("paced", [Pacing(per_window=2, window=3600)], indirect=True)
def test_a_request_budget_is_told_in_headers_and_refused_once_spent(paced) -> None:
    _, client = paced
    answers = [client.post("/chat/completions", json=BODY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["x-ratelimit-limit-requests"] for a in answers] == ["2", "2", "2"]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["1", "0", "0"]
    assert all(a.headers["x-ratelimit-reset-requests"].endswith("s") for a in answers)


@pytest.mark.parametrize("paced", [Pacing(storm=1.0, per_window=1)], indirect=True)
def test_only_chat_requests_are_paced(paced) -> None:
    _, client = paced
    assert [client.get("/models").status_code for _ in range(3)] == [200, 200, 200]
    assert client.post("/chat/completions", json=BODY).status_code == 429
