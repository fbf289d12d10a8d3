"""`nbstream.map` against the offline server: prompts from a list, Series or DataFrame, results in
input order, the run record that makes a re-run ask only for what is missing (FAULTS 42),
rate limits that lose nothing (FAULTS 6, 33), and `max_cost`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

import nbstream
from nbstream.engine.result import Status
from nbstream.errors import BadInputError, ConfigError
from nbstream.session import Session
from nbstream.settings import NbStream

from .conftest import SECRET_KEY


@pytest.fixture
def session(server, log, monkeypatch, tmp_path) -> Session:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.delenv("NBSTREAM_CACHE", raising=False)
    config = NbStream(base_url=server.url, model="nbstream-demo", max_retries=1)
    return Session(config, cache=tmp_path / ".nbstream" / "cache.sqlite")


def ask(session: Session, items: Any, template: str = "Echo {item}", **kw: Any) -> Any:
    options = {"nbstream": {"rate": 0}, **kw}
    return nbstream.map(items, template, session=session, show=False, **options)


def sent(log) -> list[str]:
    return [record.body["messages"][-1]["content"] for record in log.records]


def test_results_come_back_in_input_order(session, log) -> None:
    items = [f"item {i}" for i in range(12)]
    results = ask(session, items, concurrency=4)
    assert [result.status for result in results] == [Status.COMPLETE] * 12
    for item, result in zip(items, results, strict=True):
        assert f"> Echo {item}\n" in result.text
    assert sorted(sent(log)) == sorted(f"Echo {item}" for item in items)


def test_a_dataframe_row_fills_column_item_and_index_fields(session, log) -> None:
    frame = pd.DataFrame({"title": ["Bug", "Idea"], "body": ["it {crashes}", "more"]},
                         index=["t1", "t2"])  # fmt: skip
    ask(session, frame, "[{index}] {title}: {body} {not_a_column}")
    assert sorted(sent(log)) == [
        "[t1] Bug: it {crashes} {not_a_column}",
        "[t2] Idea: more {not_a_column}",
    ]


def test_a_dataframe_in_gives_a_dataframe_out_with_its_index(session) -> None:
    frame = pd.DataFrame({"q": ["a", "b", "c"]}, index=[10, 20, 30])
    out = ask(session, frame, "{q}", nbstream={"text": "yes", "rate": 0})
    assert list(out.index) == [10, 20, 30]
    assert list(out["text"]) == ["yes"] * 3 and list(out["status"]) == ["complete"] * 3
    assert {"prompt_tokens", "completion_tokens", "cost", "error"} <= set(out.columns)
    assert (out["completion_tokens"] > 0).all()


def test_a_series_gives_a_dataframe_with_its_labels(session, log) -> None:
    out = ask(session, pd.Series(["x", "y"], index=["a", "b"]), "{index}={item}")
    assert list(out.index) == ["a", "b"] and sorted(sent(log)) == ["a=x", "b=y"]


def test_a_rerun_asks_only_for_items_not_finished_before(session, log, capsys) -> None:
    ask(session, ["a", "b", "c"])
    log.clear()
    results = nbstream.map(["a", "b", "c", "d"], "Echo {item}", session=session, show=True,
                           nbstream={"rate": 0})  # fmt: skip
    assert sent(log) == ["Echo d"]
    assert [f"> Echo {x}\n" in r.text for x, r in zip("abcd", results, strict=True)] == [True] * 4
    assert "4/4 done · 3 from the record" in capsys.readouterr().out


def test_resume_false_asks_every_item_again(session, log) -> None:
    ask(session, ["a", "b"])
    log.clear()
    ask(session, ["a", "b"], resume=False)
    assert sorted(sent(log)) == ["Echo a", "Echo b"]


def test_other_parameters_are_another_request_and_asked_again(session, log) -> None:
    ask(session, ["a"], temperature=0.1)
    log.clear()
    ask(session, ["a"], temperature=0.9)
    assert sent(log) == ["Echo a"]


def test_failed_items_are_not_recorded_and_are_asked_again(session, log, fault_key) -> None:
    results = ask(session, ["a", "b"], concurrency=1,
                  nbstream={"rate": 0, "fail_status": 400, "key": fault_key})  # fmt: skip
    assert [r.status for r in results] == [Status.FAILED, Status.COMPLETE]
    log.clear()
    again = ask(session, ["a", "b"], concurrency=1,
                nbstream={"rate": 0, "fail_status": 400, "key": fault_key})  # fmt: skip
    assert sent(log) == ["Echo a"] and [r.status for r in again] == [Status.COMPLETE] * 2


def test_rate_limits_past_the_engines_retries_lose_no_item(session, log, fault_key) -> None:
    # 12 refusals for 4 items with one engine retry each: some items meet 429 twice in a row.
    opts = {"rate": 0, "fail_status": 429, "fail_times": 12, "retry_after": "0", "key": fault_key}
    results = ask(session, ["a", "b", "c", "d"], concurrency=4, nbstream=opts)
    assert [r.status for r in results] == [Status.COMPLETE] * 4
    assert sorted(r.status for r in log.records).count(429) == 12


def test_every_retry_after_spelling_is_waited_and_retried(session, log, fault_key) -> None:
    for n, headers in enumerate(({"retry-after-ms": "10"}, {"llm_provider-retry-after": "0"},
                                 {"x-ratelimit-remaining-requests": "0",
                                  "x-ratelimit-reset-requests": "20ms"})):  # fmt: skip
        opts = {"rate": 0, "fail_status": 429, "fail_headers": headers, "key": f"{fault_key}{n}"}
        assert [r.status for r in ask(session, [f"x{n}"], nbstream=opts)] == [Status.COMPLETE]


def test_max_cost_without_a_known_price_fails_before_any_request(session, log) -> None:
    with pytest.raises(ConfigError, match=r"max_cost needs a price.*'nbstream-demo'"):
        ask(session, ["a"], max_cost=1.0)
    assert log.records == []


def test_max_cost_stops_before_crossing_it(session, log) -> None:
    session.config.prices = {"nbstream-demo": [0.0, 1_000_000.0]}  # a dollar a token
    results = ask(session, ["a", "b", "c", "d"], concurrency=1, max_tokens=3, max_cost=7.0,
                  nbstream={"rate": 0, "tokens": 3})  # fmt: skip
    assert [r.status for r in results] == [Status.COMPLETE] * 2 + [Status.FAILED] * 2
    assert results[2].error == "not sent: stopped before crossing max_cost $7"
    assert len(log.records) == 2


def test_an_empty_template_or_a_string_of_items_is_refused(session, log) -> None:
    with pytest.raises(BadInputError):
        ask(session, ["a"], "  ")
    with pytest.raises(BadInputError):
        ask(session, "abc")
    assert log.records == []


def test_map_stays_out_of_star_imports() -> None:
    assert "map" not in nbstream.__all__ and callable(nbstream.map)


@dataclass
class Label:
    category: str
    urgent: bool


def test_a_schema_gives_parsed_results_and_their_fields_as_columns(session, log) -> None:
    frame = pd.DataFrame({"q": ["a", "b"]}, index=["x", "y"])
    out = ask(session, frame, "{q}", schema=Label)
    assert list(out.index) == ["x", "y"] and {"category", "urgent"} <= set(out.columns)
    assert "text" not in out.columns and list(out["status"]) == ["complete"] * 2
    assert all(r.body["response_format"]["type"] == "json_schema" for r in log.records)
    (listed,) = ask(session, ["c"], "{item}", schema=Label)
    assert isinstance(listed.parsed, Label)
