"""`%chat` subcommands on a session: what each shows, changes, or refuses in one line."""

from __future__ import annotations

import ast

import pytest
from IPython.core.error import UsageError

from nbstream.engine.result import ChatResult, Status
from nbstream.ipython.subcommands import Subcommands
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.store.threads import ConversationStore


@pytest.fixture
def chat(tmp_path) -> Subcommands:
    session = Session(NbStream(), ConversationStore(), tmp_path / ".nbstream" / "cache.sqlite")
    session.store.record("default", "one", ChatResult(text="1"))
    session.store.record("default", "two", ChatResult(text="2", status=Status.INTERRUPTED))
    return Subcommands(session)


def shown(capsys) -> list[str]:
    """The Markdown of each output, as a display outside a notebook prints it."""
    lines = capsys.readouterr().out.strip().splitlines()
    return [ast.literal_eval(line)["text/markdown"] for line in lines]


def test_threads_lists_each_thread_with_its_summary(chat, capsys) -> None:
    chat.run("threads")
    assert shown(capsys) == ["- **default**: 2 turns, 1 interrupted"]


def test_undo_removes_the_last_exchange_and_new_starts_afresh(chat, capsys) -> None:
    chat.run("undo")
    assert [e.user for e in chat.session.store.thread().exchanges] == ["one"]
    chat.run("new")
    assert chat.session.store.thread().exchanges == []


def test_system_sets_the_threads_system_prompt(chat) -> None:
    chat.run("system -t other 'Be brief.'")
    assert chat.session.store.thread("other").system == "Be brief."


def test_history_shows_the_transcript(chat, capsys) -> None:
    chat.run("history")
    (markdown,) = shown(capsys)
    assert markdown.startswith("**You:**\n\none\n\n---\n\n")


def test_an_empty_cache_says_where_it_looks(chat, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    chat.run("cache list")
    assert shown(capsys) == ["No recorded replies in .nbstream/cache.sqlite."]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("frobnicate", "%chat: unknown subcommand 'frobnicate'; use one of: "),
        ("export", "%chat export PATH [--force]"),
        ("export notes.txt", "%chat export: "),
        ("system 'unclosed", "%chat: No closing quotation"),
    ],
)
def test_mistakes_are_one_line_usage_errors(chat, line, message) -> None:
    with pytest.raises(UsageError) as caught:
        chat.run(line)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_export_writes_the_thread_and_refuses_to_overwrite_without_force(chat, tmp_path) -> None:
    target = tmp_path / "chat.md"
    chat.run(f"export {target}")
    assert "**You:**\n\none" in target.read_text()
    with pytest.raises(UsageError, match="exists"):
        chat.run(f"export {target}")
    chat.run(f"export {target} --force")


def test_config_lists_each_setting_as_a_reader_would_type_it(chat, capsys) -> None:
    chat.run("config")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    bundle = ast.literal_eval(line)
    plain = bundle["text/plain"].splitlines()
    assert "connect_timeout: 10.0" in plain  # no Markdown escapes in what a terminal prints
    assert "cache: off" in plain and "replay_pace: instant" in plain  # values, not enum names
    assert "- `cache`: off" in bundle["text/markdown"].splitlines()
