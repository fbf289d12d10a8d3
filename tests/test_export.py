"""A thread exported: a Markdown document from the one transcript renderer, or JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nbstream.engine.result import ChatResult, Status, Usage
from nbstream.show.export import export, transcript_document
from nbstream.store.threads import ConversationStore


def reply(text: str, status: Status = Status.COMPLETE, **extra: object) -> ChatResult:
    return ChatResult(text=text, model="m", status=status, **extra)  # type: ignore[arg-type]


def exported_store() -> ConversationStore:
    store = ConversationStore(clock=lambda: 1795515300.0)
    store.set_system("default", "be brief")
    store.record("default", "what is 2+2?", reply("4", usage=Usage(10, 2, 12)))
    store.record(
        "default",
        "and 3+3?",
        reply("6 or", Status.INTERRUPTED, usage=Usage(20, 2, 22, estimated=True)),
    )
    return store


def test_markdown_export_reads_as_a_transcript() -> None:
    text = transcript_document(exported_store().thread("default"))
    assert text.startswith("# Conversation default\n\n*2 turns, 1 interrupted*\n\n")
    assert text.index("**System:**") < text.index("be brief") < text.index("**You:**")
    assert "**m:** *(interrupted after 2 tokens)*" in text
    assert "*m · 10 → 2 tokens (12) · " in text
    assert "*m · ≈20 → ≈2 tokens (≈22) · " in text
    assert text.index("what is 2+2?") < text.index("and 3+3?") < text.index("6 or")


def test_json_export_holds_the_whole_thread() -> None:
    record = json.loads(exported_store().export_json("default"))
    assert record["thread"] == "default" and record["system"] == "be brief"
    assert [ex["user"] for ex in record["exchanges"]] == ["what is 2+2?", "and 3+3?"]
    assert ChatResult.from_dict(record["exchanges"][1]["result"]).status is Status.INTERRUPTED


@pytest.mark.parametrize("name", ["chat.md", "chat.MARKDOWN", "chat.json"])
def test_export_picks_the_format_from_the_suffix(tmp_path: Path, name: str) -> None:
    store = exported_store()
    written = export(store.thread("default"), tmp_path / name)
    text = written.read_text(encoding="utf-8")
    if name.endswith(".json"):
        assert json.loads(text)["thread"] == "default"
    else:
        assert text == transcript_document(store.thread("default"))
    assert os.listdir(tmp_path) == [name]


def test_export_to_an_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^cannot export to 'chat.txt': use a \.md or \.json"):
        export(exported_store().thread("default"), tmp_path / "chat.txt")
    assert os.listdir(tmp_path) == []


def test_model_output_in_an_exported_document_is_made_safe() -> None:
    store = ConversationStore()
    store.record("default", "hi", reply('<img src=x onerror="alert(1)"> [x](javascript:alert(1))'))
    text = transcript_document(store.thread("default"))
    assert "<img" not in text and "javascript:" not in text


def test_a_failed_reply_says_why_in_the_document() -> None:
    store = ConversationStore()
    store.record("default", "hi", reply("", Status.FAILED, error="401 from api: bad key"))
    text = transcript_document(store.thread("default"))
    assert "**m:** *(failed" in text and "*401 from api: bad key*" in text
