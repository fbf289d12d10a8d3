"""Models a server serves on /v1/responses only, remembered across kernels in one file."""

from __future__ import annotations

from nbstream.store.apis import ResponsesOnlyModels


def test_a_remembered_model_is_known_to_a_later_kernel(tmp_path) -> None:
    path = tmp_path / ".nbstream" / "apis.sqlite"
    path.parent.mkdir()
    first = ResponsesOnlyModels(path)
    assert not first.responses_only("http://h/v1", "o3-pro")
    first.remember("http://h/v1", "o3-pro")
    later = ResponsesOnlyModels(path)
    assert later.responses_only("http://h/v1", "o3-pro")
    assert not later.responses_only("http://other/v1", "o3-pro")
    assert not later.responses_only("http://h/v1", "gpt-4o")


def test_an_unusable_file_is_no_loss_the_model_is_remembered_in_memory(tmp_path) -> None:
    path = tmp_path / "apis.sqlite"
    path.write_bytes(b"this is not a database, and stays as it is" * 3)
    before = path.read_bytes()
    memory = ResponsesOnlyModels(path)
    assert not memory.responses_only("u", "m")
    memory.remember("u", "m")
    assert memory.responses_only("u", "m")
    assert path.read_bytes() == before


def test_a_missing_file_is_not_created_by_reading(tmp_path) -> None:
    path = tmp_path / "apis.sqlite"
    assert not ResponsesOnlyModels(path).responses_only("u", "m")
    assert not path.exists()
