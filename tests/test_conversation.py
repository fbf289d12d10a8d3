"""`nbstream.Chat`: a conversation from code, kept in the session's store."""

from __future__ import annotations

import asyncio

import pytest

import nbstream
from nbstream.session import Session

from .conftest import demo_session, text


@pytest.fixture
def session(server, log, monkeypatch) -> Session:
    return demo_session(server, monkeypatch, retries=2)


def test_chat_class_keeps_history_and_reset_keeps_the_system(session, log) -> None:
    chat = nbstream.Chat(system="Be brief.", session=session)
    chat.send("one", params=text("1"))
    chat.send("two", params=text("2"))
    sent = [m["content"] for m in log.records[-1].body["messages"]]
    assert sent == ["Be brief.", "one", "1", "two"]
    assert chat.history == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "2"},
    ]
    chat.reset()
    assert chat.history == [{"role": "system", "content": "Be brief."}]
    assert chat.system == "Be brief."


def test_asend_continues_the_same_conversation(session, log) -> None:
    chat = nbstream.Chat(session=session, thread="mine")
    chat.send("one", params=text("1"))
    reply = asyncio.run(chat.asend("two", params=text("2")))
    assert reply.text == "2"
    sent = [m["content"] for m in log.records[-1].body["messages"]]
    assert sent == ["one", "1", "two"]
    assert repr(chat) == "Chat(thread='mine', model=None, turns=2)"


def test_defaults_go_with_every_request_and_a_send_may_override_them(session, log) -> None:
    chat = nbstream.Chat("nbstream-demo", session=session, temperature=0.2)
    chat.send("a", params=text("x"))
    chat.send("b", params=text("y"), temperature=0.9)
    assert [r.body["temperature"] for r in log.records] == [0.2, 0.9]
    assert {r.body["model"] for r in log.records} == {"nbstream-demo"}


def test_two_chats_keep_separate_histories(session, log) -> None:
    first, second = nbstream.Chat(session=session), nbstream.Chat(session=session)
    first.send("to first", params=text("1"))
    second.send("to second", params=text("2"))
    assert [m["content"] for m in log.records[-1].body["messages"]] == ["to second"]
    assert first.thread != second.thread
