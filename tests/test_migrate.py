"""The JSON file nbstream kept before the database: imported once, then renamed, never deleted."""

from __future__ import annotations

import json

import pytest

from nbstream.engine.result import ChatResult
from nbstream.store.migrate import parse
from nbstream.store.threads import ConversationStore

EXT4 = "/dev/sda1 / ext4 rw 0 0\n"


def legacy(threads: object, **record: object) -> bytes:
    values = {"format": "nbstream-conversations", "version": 1, "threads": threads, **record}
    return json.dumps(values).encode()


def exchange(user: str) -> dict:
    return {"user": user, "result": ChatResult(text=f"re: {user}").to_dict(),
            "cell_id": None, "turn_id": f"t-{user}", "created": 1.0}  # fmt: skip


def test_a_legacy_file_is_imported_once_and_renamed(tmp_path) -> None:
    old = tmp_path / "a.json"
    old.write_bytes(legacy({"default": {"system": "sys", "exchanges": [exchange("one")]}}))
    db = tmp_path / "conversations.sqlite"
    store = ConversationStore.open(db, notebook="a.ipynb", legacy=old, mounts=EXT4)
    assert [e.user for e in store.thread().exchanges] == ["one"] and store.thread().system == "sys"
    assert not old.exists()
    assert [p.name.split("-")[0] for p in tmp_path.glob("a.json.*")] == ["a.json.imported"]
    assert store.warnings == []


def test_a_bad_exchange_is_skipped_with_a_warning_and_the_rest_imported() -> None:
    warnings: list[str] = []
    ops = parse(legacy({"t": {"exchanges": [exchange("ok"), {"user": 5}]}, "": {}}), warnings)
    assert [op.exchange.user for op in ops if op.exchange] == ["ok"]
    assert len(warnings) == 2 and "thread '' skipped: not a thread record" in warnings[-1]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "corrupt"),
        (b'{"format": ', "corrupt"),
        (json.dumps({"format": "photos"}).encode(), "foreign"),
        (legacy({}, version=99), "newer"),
    ],
)
def test_an_unusable_file_is_set_aside_with_a_warning(tmp_path, data, reason) -> None:
    old = tmp_path / "a.json"
    old.write_bytes(data)
    store = ConversationStore.open(tmp_path / "c.sqlite", notebook="a.ipynb", legacy=old,
                                   mounts=EXT4)  # fmt: skip
    (kept,) = tmp_path.glob(f"a.json.{reason}-*")
    assert kept.read_bytes() == data and not old.exists()
    assert store.warnings[-1].endswith(f"; set aside as {kept.name}")
