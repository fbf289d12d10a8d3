"""Importing the JSON file nbstream kept before the database: once, then renamed, never deleted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nbstream.engine.result import ChatResult, Status
from nbstream.store.threads import ConversationStore

NOW = 1795515300.0
STAMP = time.strftime("%Y%m%d-%H%M%S", time.localtime(NOW))


def legacy_file(exchanges: list[dict], system: str | None = "sys") -> str:
    threads = {"default": {"system": system, "exchanges": exchanges}}
    return json.dumps({"format": "nbstream-conversations", "version": 1, "threads": threads})


def exchange(user: str, text: str = "a", **extra: object) -> dict:
    result = ChatResult(text=text, model="m", status=Status.INTERRUPTED).to_dict()
    return {"user": user, "cell_id": None, "turn_id": user, "created": NOW, "result": result,
            **extra}  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".nbstream").mkdir()
    return tmp_path / ".nbstream"


def open_store(folder: Path) -> ConversationStore:
    return ConversationStore.open(
        folder / "conversations.sqlite",
        notebook="analysis.ipynb",
        legacy=folder / "analysis.json",
        clock=lambda: NOW,
    )


def test_an_old_json_store_is_imported_once_then_renamed(folder: Path) -> None:
    text = legacy_file([exchange("q0"), exchange("q1", cell_id="c1")])
    (folder / "analysis.json").write_text(text)
    store = open_store(folder)
    assert store.restored == 2 and store.warnings == []
    assert [ex.user for ex in store.thread().exchanges] == ["q0", "q1"]
    assert store.thread().system == "sys"
    assert store.thread().exchanges[1].cell_id == "c1"
    assert store.thread().exchanges[0].status is Status.INTERRUPTED
    assert not (folder / "analysis.json").exists()
    assert (folder / f"analysis.json.imported-{STAMP}").read_text() == text
    assert open_store(folder).restored == 2  # not imported a second time


@pytest.mark.parametrize(
    ("content", "reason", "said"),
    [
        ("{not json", "corrupt",
         "was corrupt (Expecting property name enclosed in double quotes: line 1 column 2)"),
        (b"\xff\xfe".decode("latin-1"), "corrupt", "was corrupt (not UTF-8 text)"),
        ('{"cells": []}', "foreign", "is not an nbstream conversation file"),
        ("[1, 2]", "foreign", "is not an nbstream conversation file"),
        ('{"format": "nbstream-conversations", "version": 2, "threads": {}}', "newer",
         "was written by a newer nbstream (format version 2)"),
        ('{"format": "nbstream-conversations", "version": 0, "threads": {}}', "corrupt",
         "was corrupt (bad version 0)"),
        ('{"format": "nbstream-conversations", "threads": {}}', "corrupt",
         "was corrupt (bad version None)"),
        ('{"format": "nbstream-conversations", "version": 1, "threads": []}', "corrupt",
         "was corrupt (no threads)"),
        ("[" * 100_000 + "]" * 100_000, "corrupt", "was corrupt (nested too deeply)"),
    ],
)  # fmt: skip
def test_an_old_file_that_cannot_be_used_is_set_aside_with_a_warning(
    folder: Path, content: str, reason: str, said: str
) -> None:
    (folder / "analysis.json").write_text(content, encoding="latin-1")
    store = open_store(folder)
    aside = folder / f"analysis.json.{reason}-{STAMP}"
    assert aside.read_text(encoding="latin-1") == content
    assert store.warnings == [
        f"nbstream: .nbstream/analysis.json {said}; set aside as {aside.name}"
    ]
    assert store.threads() == []
    store.record("default", "q", ChatResult(text="a"))
    assert open_store(folder).restored == 1


def test_exchanges_of_the_wrong_type_are_skipped_and_named(folder: Path) -> None:
    bad = [exchange("q0"), {"user": 5}, exchange("q2", text=5), "nope", exchange("q4")]
    (folder / "analysis.json").write_text(legacy_file(bad))
    store = open_store(folder)
    assert [ex.user for ex in store.thread().exchanges] == ["q0", "q4"]
    assert [w.split(":")[1].strip() for w in store.warnings] == [
        "exchange 1 of thread 'default' skipped",
        "exchange 2 of thread 'default' skipped",
        "exchange 3 of thread 'default' skipped",
    ]
    assert "result.text: Input should be a valid string" in store.warnings[1]
    assert all(
        m["content"] in ("q0", "q4", "a", "next", "sys") for m in store.messages("default", "next")
    )


def test_each_skipped_record_is_named_exactly(folder: Path) -> None:
    threads = {
        "t": 5,
        "u": {"system": 7, "exchanges": ["nope", exchange("kept")]},
        "v": {"exchanges": {"not": "a list"}},
    }
    record = {"format": "nbstream-conversations", "version": 1, "threads": threads}
    (folder / "analysis.json").write_text(json.dumps(record))
    store = open_store(folder)
    assert store.warnings == [
        "nbstream: thread 't' skipped: not a thread record",
        "nbstream: exchange 0 of thread 'u' skipped: not an exchange record",
    ]
    assert store.threads() == ["u", "v"]
    assert store.thread("u").system is None
    assert [ex.user for ex in store.thread("u").exchanges] == ["kept"]
