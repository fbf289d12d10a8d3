"""The session's rules for a turn, against the offline server: what is sent, what is
recorded, and what each kind of failure leaves in the conversation."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nbstream.engine import loop
from nbstream.engine.result import ChatResult, Status
from nbstream.errors import (
    AuthError,
    BadResponseError,
    CacheError,
    CacheMissError,
    ConnectError,
    NbStreamError,
    StreamError,
    ThreadBusyError,
)
from nbstream.session import Session, with_backend
from nbstream.settings import NbStream, resolve
from nbstream.show.live import driver, stream_to
from nbstream.show.surfaces import NullSurface
from nbstream.store.threads import ConversationStore
from nbstream.turn import Turn, TurnOptions

from .conftest import HANG, demo_session
from .kernels import clean_env
from .test_live import InterruptOnText


@pytest.fixture
def session(server, log, monkeypatch, tmp_path) -> Session:
    return demo_session(server, monkeypatch, on_disk=tmp_path)


def says(text: str, **options: Any) -> dict[str, Any]:
    return {"nbstream": {"text": text, "rate": 0, **options}}


def ask(
    session: Session,
    prompt: str,
    reply: str = "ok",
    *,
    drive: Callable[[Turn], ChatResult] | None = None,
    cell_id: str | None = None,
    **options: Any,
) -> ChatResult:
    params = options.pop("params", says(reply))
    turn = TurnOptions(params=params, **options)
    return session.chat(prompt, turn, drive or driver(NullSurface()), cell_id=cell_id)


def sent(log) -> list[tuple[str, str]]:
    """The messages of the last request, as (role, content)."""
    return [(m["role"], m["content"]) for m in log.records[-1].body["messages"]]


def users(session: Session, thread: str = "default") -> list[str]:
    return [exchange.user for exchange in session.store.thread(thread).exchanges]


def test_each_turn_sends_the_thread_so_far_and_records_the_exchange(session, log) -> None:
    ask(session, "One", "First reply")
    result = ask(session, "Two", "Second reply")
    assert sent(log) == [("user", "One"), ("assistant", "First reply"), ("user", "Two")]
    assert result.text == "Second reply" and session.last == result
    assert users(session) == ["One", "Two"]
    assert [e.result.text for e in session.store.thread().exchanges] == [
        "First reply",
        "Second reply",
    ]


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("fault-401", AuthError),
        ("fault-html", BadResponseError),
        ("fault-plain-error", ConnectError),
    ],
)
def test_a_failure_before_the_first_token_leaves_the_thread_unchanged(
    session, log, model, error
) -> None:
    first = ask(session, "Kept", "kept reply")
    with pytest.raises(NbStreamError) as raised:
        ask(session, "Lost", model=model)
    assert isinstance(raised.value, error)
    assert users(session) == ["Kept"]
    assert session.last == first
    assert session.totals.models["nbstream-demo"].requests == 1 and model not in str(
        session.totals.table()
    )
    ask(session, "Retry")
    assert sent(log) == [("user", "Kept"), ("assistant", "kept reply"), ("user", "Retry")]


def test_a_broken_stream_keeps_its_partial_reply_as_failed_and_sends_it_next(session, log) -> None:
    with pytest.raises(StreamError):
        ask(session, "Break", model="fault-error-event", params={})
    [exchange] = session.store.thread().exchanges
    assert exchange.status is Status.FAILED and len(exchange.result.text.split()) == 3
    ask(session, "Again")
    assert sent(log) == [("user", "Break"), ("assistant", exchange.result.text), ("user", "Again")]


def test_a_dropped_stream_returns_and_keeps_its_partial_reply_as_incomplete(session) -> None:
    result = ask(session, "Drop", model="fault-disconnect", params={})
    assert result.status is Status.INCOMPLETE and len(result.text.split()) == 5
    [exchange] = session.store.thread().exchanges
    assert exchange.result == result


def test_an_interrupt_keeps_the_partial_reply_as_interrupted_and_closes(session, log) -> None:
    drive = lambda turn: stream_to(turn.stream, InterruptOnText())  # noqa: E731
    with pytest.raises(KeyboardInterrupt):
        ask(session, "Long", drive=drive, params={"nbstream": {"tokens": 400, "rate": 20}})
    [exchange] = session.store.thread().exchanges
    assert exchange.status is Status.INTERRUPTED and exchange.result.text
    assert log.wait_for(lambda records: records[-1].outcome == "disconnected", HANG)


def test_an_interrupt_before_the_first_token_records_nothing(session, log) -> None:
    class InterruptWhileWaiting(InterruptOnText):
        def show(self, result, last_line, notices):
            raise KeyboardInterrupt

    drive = lambda turn: stream_to(turn.stream, InterruptWhileWaiting())  # noqa: E731
    slow = {"nbstream": {"first_token_delay": 30}}
    with pytest.raises(KeyboardInterrupt):
        ask(session, "Never mind", drive=drive, params=slow)
    assert session.store.thread().exchanges == [] and session.last is None
    ask(session, "Next")
    assert sent(log) == [("user", "Next")]


def test_a_rerun_cell_replaces_its_exchange_and_sees_the_context_it_first_saw(session, log) -> None:
    ask(session, "A", "reply A", cell_id="c1")
    ask(session, "B", "reply B", cell_id="c2")
    ask(session, "A again", "reply A2", cell_id="c1")
    assert sent(log) == [("user", "A again")]
    assert users(session) == ["A again", "B"]
    ask(session, "C", cell_id="c3")
    assert sent(log)[:4] == [
        ("user", "A again"),
        ("assistant", "reply A2"),
        ("user", "B"),
        ("assistant", "reply B"),
    ]


def test_a_cell_that_failed_first_then_ran_is_recorded_once(session) -> None:
    with pytest.raises(AuthError):
        ask(session, "A", cell_id="c1", model="fault-401")
    ask(session, "A", cell_id="c1")
    ask(session, "A", cell_id="c1")
    assert users(session) == ["A"]


def test_a_no_history_turn_sends_only_its_prompt_and_records_nothing(session, log) -> None:
    ask(session, "Kept")
    result = ask(session, "One-off", "aside", no_history=True)
    assert sent(log) == [("user", "One-off")]
    assert users(session) == ["Kept"]
    assert session.last == result  # still the turn `_` shows, and counted
    assert session.totals.models["nbstream-demo"].requests == 2


def test_a_no_history_turn_may_run_while_the_thread_streams(session) -> None:
    inner: list[str] = []

    def drive(turn: Turn) -> ChatResult:
        with pytest.raises(ThreadBusyError):
            ask(session, "Same thread")
        inner.append(ask(session, "Aside", "aside", no_history=True).text)
        return stream_to(turn.stream, NullSurface())

    ask(session, "Outer", drive=drive)
    assert inner == ["aside"] and users(session) == ["Outer"]


def test_the_thread_is_free_again_after_a_failed_turn(session) -> None:
    with pytest.raises(AuthError):
        ask(session, "Fails", model="fault-401")
    with pytest.raises(StreamError):
        ask(session, "Breaks", model="fault-error-event", params={})
    assert ask(session, "Works").text == "ok"


def test_a_system_prompt_is_sent_first_and_kept_for_the_thread(session, log) -> None:
    ask(session, "One", system="Be brief.")
    ask(session, "Two")
    assert sent(log) == [
        ("system", "Be brief."),
        ("user", "One"),
        ("assistant", "ok"),
        ("user", "Two"),
    ]
    assert session.store.thread().system == "Be brief."


def test_new_starts_the_thread_over_with_its_system_prompt(session, log) -> None:
    ask(session, "Old", system="Be brief.")
    ask(session, "Fresh", new=True)
    assert sent(log) == [("system", "Be brief."), ("user", "Fresh")]
    assert users(session) == ["Fresh"]


def test_threads_are_separate_conversations(session, log) -> None:
    ask(session, "In a", thread="a")
    ask(session, "In b", thread="b")
    assert sent(log) == [("user", "In b")]
    assert users(session, "a") == ["In a"] and users(session, "b") == ["In b"]


def test_the_conversation_survives_a_new_session_on_the_same_file(
    session, log, server, tmp_path
) -> None:
    ask(session, "Remember", "remembered")
    store = ConversationStore.open(tmp_path / "conversations.sqlite", notebook="nb.ipynb")
    again = Session(NbStream(base_url=server.url, model="nbstream-demo"), store)
    again.chat("Next", TurnOptions(params=says("ok")), driver(NullSurface()))
    assert sent(log) == [("user", "Remember"), ("assistant", "remembered"), ("user", "Next")]


def test_totals_count_every_reply_per_model(session) -> None:
    ask(session, "One", "a b c")
    ask(session, "Two", "d e")
    ask(session, "Three", model="fault-length", params={})
    table = session.totals.table()
    assert "| nbstream-demo | 2 |" in table and "| fault-length | 1 |" in table


def test_a_recorded_reply_is_replayed_without_a_request(session, log) -> None:
    live = ask(session, "Cached?", "recorded text", cache="record", no_history=True)
    asked = len(log.records)
    replayed = ask(session, "Cached?", "recorded text", cache="replay", no_history=True)
    assert len(log.records) == asked
    assert replayed.text == live.text and replayed.replayed
    assert session.totals.models["nbstream-demo (replayed)"].requests == 1


def test_a_strict_miss_fails_before_any_request(session, log) -> None:
    with pytest.raises(CacheMissError):
        ask(session, "Never recorded", cache="strict", no_history=True)
    assert log.records == [] and session.last is None


def test_only_complete_replies_are_recorded(session, log) -> None:
    options = dict(cache="record", no_history=True, model="fault-disconnect", params={})
    ask(session, "Cut short", **options)
    options["cache"] = "replay"
    again = ask(session, "Cut short", **options)
    assert len(log.records) == 2 and not again.replayed


def test_parameters_the_cache_cannot_key_fail_before_any_request(session, log) -> None:
    with pytest.raises(CacheError, match="cannot cache this request"):
        ask(session, "Hi", cache="record", params={"temperature": object()})
    assert log.records == []


def test_cancelling_achat_keeps_the_partial_reply_and_closes_the_connection(session, log) -> None:
    started: list[Turn] = []
    updates: list[ChatResult] = []

    async def main() -> None:
        options = TurnOptions(thread="t", params={"nbstream": {"tokens": 400, "rate": 50}})
        task = asyncio.ensure_future(
            session.achat(
                "Long", options, on_start=started.append, on_update=updates.append, interval=0.01
            )
        )
        while not updates or not updates[-1].text:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop.run(main())
    [turn] = started
    [exchange] = session.store.thread("t").exchanges
    assert turn.kept is not None and turn.kept.status is Status.INTERRUPTED
    assert exchange.result == turn.kept and exchange.turn_id == turn.turn_id
    assert log.wait_for(lambda records: records[-1].outcome == "disconnected", HANG)


def test_achat_records_like_chat_and_hands_events_to_the_sink(session, log) -> None:
    events: list[Any] = []
    options = TurnOptions(params=says("async reply"))
    result = loop.run(session.achat("Hi", options, sink=events.append))
    assert result.text == "async reply" and users(session) == ["Hi"]
    assert "".join(getattr(e, "text", "") for e in events) == "async reply"


def test_achat_says_not_saved_only_for_a_turn_that_saves(session, monkeypatch) -> None:
    # A one-off writes nothing: it counts in the totals at once, and no store problem is its.
    monkeypatch.setattr(session.store, "unsaved_problem", lambda: "disk full")
    kept = loop.run(session.achat("Hi", TurnOptions(params=says("kept"))))
    one_off = loop.run(session.achat("Hi", TurnOptions(no_history=True, params=says("gone"))))
    assert [n.startswith("not saved: disk full") for n in kept.notices] == [True]
    assert one_off.notices == () and one_off.text == "gone"
    assert sum(t.requests for t in session.totals.models.values()) == 2
    assert session.last == one_off


def test_a_turn_that_got_nothing_has_nothing_kept(session) -> None:
    started: list[Turn] = []
    with pytest.raises(AuthError):
        loop.run(session.achat("Hi", TurnOptions(model="fault-401"), on_start=started.append))
    assert started[0].kept is None and session.store.thread().exchanges == []


def test_a_configured_backend_is_used_as_it_is(server) -> None:
    settings = resolve(base_url=server.url, environ={})
    said: list[str] = []
    assert with_backend(settings, said.append) is settings and said == []


OFFLINE_SCRIPT = """
import json, sys
from pathlib import Path
from nbstream.session import Session
from nbstream.turn import TurnOptions
from nbstream.show.live import driver
from nbstream.show.surfaces import NullSurface

folder = Path(sys.argv[1])
notices = []
for name in ("first", "second"):
    session = Session(cache=folder / name / "cache.sqlite")
    for prompt in ("one", "two"):
        options = TurnOptions(params={"nbstream": {"rate": 0}})
        result = session.chat(prompt, options, driver(NullSurface()))
        notices.append([result.backend, list(result.notices)])
print(json.dumps(notices))
"""


def test_the_offline_backend_is_announced_once_per_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    turns = json.loads(done.stdout)
    assert [backend for backend, _ in turns] == ["offline demo"] * 4
    [notice] = turns[0][1]
    assert notice.startswith("No API key or base URL is set, so nbstream uses its offline")
    assert [notices for _, notices in turns[1:]] == [[], [], []]
