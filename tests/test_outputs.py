"""One-off outputs of `%chat` subcommands: notes, transcripts and the cache table."""

from __future__ import annotations

import ast

from nbstream.engine.result import ChatResult, Usage
from nbstream.show.outputs import cache_table, show_markdown, show_transcript
from nbstream.store.cache import ResponseCache
from nbstream.store.cache_key import CacheRequest
from nbstream.store.records import Exchange, Thread


def printed(capsys) -> dict:
    """The bundle a display outside a notebook prints."""
    return ast.literal_eval(capsys.readouterr().out.strip())


def test_a_note_is_markdown_and_plain_text_and_never_empty(capsys) -> None:
    show_markdown("**3** turns")
    assert printed(capsys) == {"text/markdown": "**3** turns", "text/plain": "**3** turns"}
    show_markdown("")
    assert printed(capsys)["text/plain"] == "Nothing here yet."


def test_a_transcript_has_safe_markdown_and_plain_text(capsys) -> None:
    show_transcript(Thread("t", None, [Exchange("Hi", ChatResult(text="<b>x</b>", model="m"))]))
    bundle = printed(capsys)
    assert bundle["text/plain"] == "You: Hi\n\nm: <b>x</b>"
    assert "&lt;b&gt;x&lt;/b&gt;" in bundle["text/markdown"]


def test_the_cache_table_lists_each_reply_with_its_tokens(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cache = ResponseCache(tmp_path / ".nbstream" / "cache.sqlite", clock=lambda: 0.0)
    assert cache_table(cache) == "No recorded replies in .nbstream/cache.sqlite."
    asked = CacheRequest("h", "odd|model", [{"role": "user", "content": "a | b"}], {})
    cache.put(asked, ChatResult(text="x", finish_reason="stop", usage=Usage(4, 2, 6)))
    assert cache_table(cache).splitlines() == [
        "| recorded (UTC) | model | prompt | tokens |",
        "|---|---|---|---:|",
        "| 1970-01-01 00:00 | odd\\|model | a \\| b | 4 → 2 |",
        "",
        "1 recorded in .nbstream/cache.sqlite",
    ]
