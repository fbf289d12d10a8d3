"""What servers need, remembered across kernels in one file: models served on /v1/responses
only, and how far structured output had to fall back."""

from __future__ import annotations

import sqlite3

from nbstream.store.apis import ServerMemory


def test_a_remembered_model_is_known_to_a_later_kernel(tmp_path) -> None:
    path = tmp_path / ".nbstream" / "apis.sqlite"
    path.parent.mkdir()
    first = ServerMemory(path)
    assert not first.responses_only("http://h/v1", "o3-pro")
    first.remember("http://h/v1", "o3-pro")
    later = ServerMemory(path)
    assert later.responses_only("http://h/v1", "o3-pro")
    assert not later.responses_only("http://other/v1", "o3-pro")
    assert not later.responses_only("http://h/v1", "gpt-4o")


def test_an_unusable_file_is_no_loss_the_model_is_remembered_in_memory(tmp_path) -> None:
    path = tmp_path / "apis.sqlite"
    path.write_bytes(b"this is not a database, and stays as it is" * 3)
    before = path.read_bytes()
    memory = ServerMemory(path)
    assert not memory.responses_only("u", "m")
    memory.remember("u", "m")
    assert memory.responses_only("u", "m")
    assert path.read_bytes() == before


def test_a_missing_file_is_not_created_by_reading(tmp_path) -> None:
    path = tmp_path / "apis.sqlite"
    assert not ServerMemory(path).responses_only("u", "m")
    assert not path.exists()


def test_a_schema_level_is_known_to_a_later_kernel_and_never_lowered(tmp_path) -> None:
    path = tmp_path / "apis.sqlite"
    first = ServerMemory(path)
    assert first.schema_level("http://h/v1", "m") == 0
    first.remember_schema_level("http://h/v1", "m", 2)
    first.remember_schema_level("http://h/v1", "m", 1)
    assert first.schema_level("http://h/v1", "m") == 2
    later = ServerMemory(path)
    assert later.schema_level("http://h/v1", "m") == 2
    assert later.schema_level("http://h/v1", "other") == 0


def test_a_file_from_before_schema_levels_keeps_its_models_and_gains_levels(tmp_path) -> None:
    path = tmp_path / "apis.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE responses_only (base_url TEXT, model TEXT, "
                   "PRIMARY KEY (base_url, model))")  # fmt: skip
        db.execute("INSERT INTO responses_only VALUES ('u', 'o3-pro')")
    memory = ServerMemory(path)
    assert memory.responses_only("u", "o3-pro") and memory.schema_level("u", "o3-pro") == 0
    memory.remember_schema_level("u", "m", 1)
    assert ServerMemory(path).schema_level("u", "m") == 1


def test_the_answer_at_hand_never_waits_for_the_file(tmp_path) -> None:
    memory = ServerMemory(tmp_path / "apis.sqlite")
    assert memory.responses_only_at_hand("u", "m") is None  # the file is not read yet
    memory.remember("u", "m")
    assert memory.responses_only_at_hand("u", "m") is True
    assert memory.responses_only_at_hand("u", "other") is False
    with memory._lock:  # a write under way on another thread
        assert memory.responses_only_at_hand("u", "m") is None
