"""A thread exported as Markdown or JSON, the file replaced in one step."""

from __future__ import annotations

import json
import os

import pytest

from nbstream.engine.result import ChatResult
from nbstream.store.exports import export, write_atomic
from nbstream.store.records import Exchange, Thread

THREAD = Thread("t", None, [Exchange("Hi", ChatResult(text="Hello"))])


def test_the_suffix_chooses_the_format(tmp_path) -> None:
    md = export(THREAD, tmp_path / "out" / "chat.MD")
    assert md.read_text().startswith("# Conversation `t`")
    data = json.loads(export(THREAD, tmp_path / "chat.json").read_text())
    assert data["exchanges"][0]["result"]["text"] == "Hello"
    assert md.stat().st_mode & 0o777 == 0o600 and md.parent.stat().st_mode & 0o777 == 0o700


def test_another_suffix_is_refused_and_nothing_is_written(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"cannot export to 'chat\.txt': use a \.md or \.json"):
        export(THREAD, tmp_path / "chat.txt")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path) -> None:
    path = tmp_path / "chat.md"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "lone \udcff surrogate")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["chat.md"]
