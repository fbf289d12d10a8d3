"""Private files replaced in one step (an export is written whole or not at all)."""

from __future__ import annotations

import os

import pytest

from nbstream.store.exports import write_atomic


def test_a_file_is_written_private_in_a_private_folder(tmp_path) -> None:
    path = tmp_path / "out" / "chat.md"
    write_atomic(path, "text")
    assert path.read_text() == "text"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path) -> None:
    path = tmp_path / "chat.md"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "lone \udcff surrogate")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["chat.md"]
