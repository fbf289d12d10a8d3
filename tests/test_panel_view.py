"""The panel's messages: a turn's widgets from sending to its reply, a stop, or an error."""

from __future__ import annotations

from nbstream.engine.result import ChatResult, Status, Timings
from nbstream.errors import AuthError
from nbstream.show.panel_view import MessageList, ReplyView, close_tree


def view(messages: MessageList, retried: list) -> ReplyView:
    turn = ReplyView(messages, "Hi <b>", footer_of=lambda r: f"{r.status.value} · 3 tokens",
                     on_retry=retried.append, on_progress=lambda snapshot: None)  # fmt: skip
    messages.append(*turn.rows)
    return turn


def texts(messages: MessageList) -> list[str]:
    return [getattr(row, "value", "") or type(row).__name__ for row in messages.list.children]


def test_a_turn_shows_the_prompt_then_the_reply_and_its_footer() -> None:
    messages, retried = MessageList(), []
    turn = view(messages, retried)
    assert "Hi &lt;b&gt;" in texts(messages)[0] and "waiting" in texts(messages)[2]
    streamed = ChatResult(text="Hel", timings=Timings(first_token=0.1))
    turn.update(streamed)
    assert "Hel" in turn.body.value and "nbstream-streaming" in turn.body._dom_classes
    turn.finish(ChatResult(text="Hello", finish_reason="stop"))
    assert "Hello" in turn.body.value and "nbstream-streaming" not in turn.body._dom_classes
    assert "3 tokens" in turn.stats.value and turn.result is not None


def test_stopped_before_the_first_token_leaves_the_prompt_and_a_note() -> None:
    messages, retried = MessageList(), []
    turn = view(messages, retried)
    turn.stopped(None)
    shown = texts(messages)
    assert len(shown) == 2 and "Hi &lt;b&gt;" in shown[0] and shown[1] == "HBox"
    note = messages.list.children[1].children[0].value
    assert "stopped before the first token · nothing kept" in note


def test_an_error_keeps_the_partial_reply_and_offers_retry() -> None:
    messages, retried = MessageList(), []
    turn = view(messages, retried)
    partial = ChatResult(text="half", status=Status.FAILED)
    turn.failed(AuthError("401 from host", "check the key"), partial)
    error_row = messages.list.children[-1]
    assert "401 from host" in error_row.children[0].value
    assert "hint: check the key" in error_row.children[0].value
    error_row.children[1].click()
    assert retried == [turn]
    turn.discard()  # the partial was kept: only the error goes
    assert len(messages.list.children) == 3 and "half" in turn.body.value


def test_discarding_a_turn_with_nothing_kept_removes_it_whole() -> None:
    messages, retried = MessageList(), []
    turn = view(messages, retried)
    turn.failed(RuntimeError("boom"), None)
    assert "RuntimeError: boom" in messages.list.children[-1].children[0].value
    turn.discard()
    assert messages.list.children == ()


def test_replace_shows_exactly_the_new_rows_and_closes_the_old() -> None:
    messages = MessageList()
    old = messages.message("old")
    messages.append(old)
    new = messages.message("new")
    messages.replace([new])
    assert messages.list.children == (new,) and old.comm is None
    close_tree(messages.widget)
    assert messages.widget.comm is None
