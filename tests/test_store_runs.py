"""The record of data-scale runs on a real SQLite file: finished items survive a new kernel,
batches are kept in the order sent, and a broken file is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbstream.engine.result import ChatResult, Status, Usage
from nbstream.errors import CacheError
from nbstream.store.runs import BatchRow, RunRecord, runs_path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def test_finished_items_are_found_by_key_from_a_new_record_of_the_same_file(tmp_path) -> None:
    path = tmp_path / "runs.sqlite"
    record = RunRecord(path)
    record.put("k1", ChatResult(text="one", usage=Usage(3, 1)))
    record.put("k2", ChatResult(text="two"))
    record.put("k2", ChatResult(text="two again"))
    record.close()
    found = RunRecord(path).finished(["k2", "k1", "never-asked"])
    assert {key: result.text for key, result in found.items()} == {"k1": "one", "k2": "two again"}
    assert found["k1"].usage.completion_tokens == 1 and found["k1"].status == Status.COMPLETE


def test_more_keys_than_sqlite_binds_at_once_are_all_looked_up(tmp_path) -> None:
    record = RunRecord(tmp_path / "runs.sqlite")
    for i in range(1200):
        record.put(f"k{i}", ChatResult(text=str(i)))
    found = record.finished(f"k{i}" for i in range(0, 1300, 2))
    assert sorted(int(r.text) for r in found.values()) == list(range(0, 1200, 2))


def test_batches_come_back_oldest_first_with_their_latest_state(tmp_path) -> None:
    record = RunRecord(tmp_path / "runs.sqlite", clock=Clock())
    record.add_batch("b2", "http://a/v1", "validating", {"c0": "k0"})
    record.add_batch("b1", "http://b/v1", "validating", {"c1": "k1", "c2": "k2"})
    record.set_state("b2", "completed")
    assert record.batches() == [
        BatchRow("b2", 1001.0, "http://a/v1", "completed", {"c0": "k0"}),
        BatchRow("b1", 1002.0, "http://b/v1", "validating", {"c1": "k1", "c2": "k2"}),
    ]
    assert [row.id for row in record.batches(["b1", "b9"])] == ["b1"]


def test_a_file_that_is_not_a_database_is_a_one_line_error_naming_it(tmp_path) -> None:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"not a database, " * 100)
    with pytest.raises(CacheError, match=r"the run record .*runs\.sqlite") as caught:
        RunRecord(path).finished(["k1"])
    assert "\n" not in caught.value.message and "resume=False" in caught.value.hint


def test_the_record_lives_beside_the_response_cache() -> None:
    assert runs_path(Path("/w/.nbstream/cache.sqlite")) == Path("/w/.nbstream/runs.sqlite")
