"""The Python API and concurrent streams, in-process against the offline server."""

from __future__ import annotations

import asyncio
import time

import pytest

import nbstream
from nbstream.engine.result import Status
from nbstream.errors import IncompleteError, NbStreamError
from nbstream.session import Session

from .conftest import HANG, demo_session, text


@pytest.fixture
def session(server, log, monkeypatch) -> Session:
    return demo_session(server, monkeypatch, retries=2)


def test_chat_with_a_thread_returns_the_result_and_records_the_exchange(session, log) -> None:
    result = nbstream.chat(
        "Hi", session=session, thread="t", params=text("Hello back"), temperature=0.3
    )
    assert result.text == "Hello back" and result.status is Status.COMPLETE
    assert log.records[-1].body["temperature"] == 0.3
    assert [e.user for e in session.store.thread("t").exchanges] == ["Hi"]


def test_functions_without_a_thread_send_and_record_no_history(session, log) -> None:
    for i in range(4):
        nbstream.chat(f"Classify row {i}", session=session, params=text("ok"))
    assert [len(r.body["messages"]) for r in log.records] == [1, 1, 1, 1]
    list(nbstream.stream("row 5", session=session, params=text("ok")))
    nbstream.run(nbstream.achat("row 6", session=session, params=text("ok")))
    assert [len(r.body["messages"]) for r in log.records] == [1] * 6
    assert session.store.threads() == []


def test_an_incomplete_reply_is_returned_with_its_status_or_raised_when_not_allowed(
    session, log
) -> None:
    kept = nbstream.chat("hi", session=session, model="fault-disconnect", params=text("a b c d"))
    assert kept.status is Status.INCOMPLETE and kept.text
    with pytest.raises(IncompleteError, match="incomplete reply: the stream ended without") as err:
        nbstream.chat("hi", session=session, model="fault-no-finish", allow_incomplete=False)
    assert err.value.result.status is Status.INCOMPLETE and err.value.result.text
    assert "allow_incomplete=True" in str(err.value)
    stopped = nbstream.chat("hi", session=session, model="fault-length", allow_incomplete=False)
    assert stopped.status is Status.COMPLETE and stopped.finish_reason == "length"


def test_gather_items_carry_their_status_and_never_raise(session) -> None:
    models = ["fault-no-finish", "fault-length", "fault-error-event"]
    results = nbstream.compare("q", models, session=session)
    assert [r.status for r in results] == [Status.INCOMPLETE, Status.COMPLETE, Status.FAILED]
    results = nbstream.gather(["a", "b"], session=session, model="fault-disconnect")
    assert [r.status for r in results] == [Status.INCOMPLETE, Status.INCOMPLETE]


def test_unknown_keywords_are_request_parameters(session, log) -> None:
    nbstream.chat("Hi", session=session, stop=["\n"], user="u7", params=text("x"))
    assert log.records[-1].body["stop"] == ["\n"] and log.records[-1].body["user"] == "u7"


def test_an_empty_prompt_is_refused_before_any_request(session, log) -> None:
    with pytest.raises(NbStreamError, match="empty prompt"):
        nbstream.chat("  ", session=session)
    assert log.records == []


def test_achat_and_astream_work_from_any_event_loop(session) -> None:
    async def main():
        result = await nbstream.achat("Hi", session=session, params=text("async reply"))
        deltas = nbstream.astream("Hi", session=session, params=text("a b"))
        pieces = [piece async for piece in deltas]
        return result, pieces, deltas.result

    result, pieces, streamed = asyncio.run(main())
    assert result.text == "async reply"
    assert pieces == ["a", " b"] and streamed.text == "a b"


def cancel_an_achat_once_streaming(session, log, thread: str) -> None:
    """Start an achat of a 10 s reply on `thread`, cancel it once tokens flow, await it."""

    async def main():
        task = asyncio.ensure_future(
            nbstream.achat("Hi", session=session, thread=thread,
                           params={"nbstream": {"tokens": 500, "rate": 50}})
        )  # fmt: skip
        # Cancel once tokens are flowing: 50 sent (1 s of the reply), so the client has read
        # some even on a busy machine; before the first token nothing is kept.
        while not log.records or log.records[-1].chunks_sent < 50:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_cancelling_achat_closes_the_connection_and_keeps_the_partial(session, log) -> None:
    cancel_an_achat_once_streaming(session, log, "cancel")
    # Read at once: the cancelled task resumed only after the partial reply was recorded.
    (exchange,) = session.store.thread("cancel").exchanges
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert exchange.status is Status.INTERRUPTED and exchange.result.text


def test_run_runs_a_coroutine_on_nbstreams_loop() -> None:
    async def work():
        await asyncio.sleep(0.01)
        return asyncio.get_running_loop()

    assert nbstream.run(work()) is nbstream.engine.loop.get_loop()


def test_gather_returns_results_in_prompt_order(session, log) -> None:
    prompts = [f"prompt {i}" for i in range(6)]
    results = nbstream.gather(prompts, session=session, concurrency=3,
                              params={"nbstream": {"tokens": 20, "rate": 100}})  # fmt: skip
    assert [r.status for r in results] == [Status.COMPLETE] * 6
    by_prompt = {r.body["messages"][-1]["content"]: r for r in log.records}
    assert set(by_prompt) == set(prompts)
    assert session.store.threads() == []  # one-offs: nothing recorded


def test_gather_with_a_thread_records_it_unless_no_history_says_otherwise(session, log) -> None:
    nbstream.gather(["a", "b"], session=session, thread="g", params=text("ok"))
    assert [e.user for e in session.store.thread("g").exchanges] == ["a", "b"]
    nbstream.run(nbstream.agather(["c"], session=session, thread="g", params=text("ok")))
    assert [e.user for e in session.store.thread("g").exchanges] == ["a", "b", "c"]
    assert len(log.records[-1].body["messages"]) == 5  # the two exchanges before it, then "c"
    nbstream.gather(["d"], session=session, thread="g", no_history=True, params=text("ok"))
    assert len(log.records[-1].body["messages"]) == 1
    assert [e.user for e in session.store.thread("g").exchanges] == ["a", "b", "c"]


def test_gather_runs_at_most_concurrency_streams_at_once(session, log) -> None:
    nbstream.gather([f"p{i}" for i in range(6)], session=session, concurrency=2,
                    params={"nbstream": {"tokens": 10, "rate": 50}})  # fmt: skip
    spans = [(r.started, r.ended) for r in log.records]
    most = max(sum(a <= t < b for a, b in spans) for t, _ in spans)
    assert most == 2


def test_one_failure_does_not_cancel_the_others(session, fault_key) -> None:
    results = nbstream.gather(
        ["a", "b", "c"], session=session, concurrency=1,
        params={"nbstream": {"tokens": 3, "fail_status": 400, "key": fault_key}},
    )  # fmt: skip
    assert [r.status for r in results] == [Status.FAILED, Status.COMPLETE, Status.COMPLETE]
    assert "400 from" in results[0].error


def test_gather_backs_off_on_rate_limits_and_recovers(session, log, fault_key) -> None:
    results = nbstream.gather(
        [f"p{i}" for i in range(4)], session=session, concurrency=4,
        params={"nbstream": {"tokens": 5, "fail_status": 429, "fail_times": 2,
                             "retry_after": "0.2", "key": fault_key}},
    )  # fmt: skip
    assert all(r.status is Status.COMPLETE for r in results)
    assert sum(r.status == 429 for r in log.records) == 2


def test_a_cancelled_achat_resumes_once_its_partial_reply_is_recorded(
    session, log, monkeypatch
) -> None:
    keep_partial = session._keep_partial

    def on_a_slow_disk(turn) -> None:
        time.sleep(1.0)  # longer than the grace an interrupt gets: the caller must still wait
        keep_partial(turn)

    monkeypatch.setattr(session, "_keep_partial", on_a_slow_disk)
    cancel_an_achat_once_streaming(session, log, "slow")
    (exchange,) = session.store.thread("slow").exchanges
    assert exchange.status is Status.INTERRUPTED


def test_interrupting_gather_cancels_every_stream(session, log) -> None:
    import _thread
    import threading

    def interrupt_once_all_stream() -> None:
        if log.wait_for(lambda r: len(r) == 4 and all(x.chunks_sent > 3 for x in r), HANG):
            _thread.interrupt_main()

    threading.Thread(target=interrupt_once_all_stream, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        nbstream.gather([f"p{i}" for i in range(4)], session=session,
                        params={"nbstream": {"tokens": 500, "rate": 20}})  # fmt: skip
    assert log.wait_for(lambda r: all(x.outcome == "disconnected" for x in r), HANG)
    assert len(log.records) == 4
    assert all(x.chunks_sent < 500 for x in log.records)  # cut short, not run to the end


def test_compare_branches_the_thread_per_model(session, log) -> None:
    nbstream.chat("earlier", session=session, thread="cmp", params=text("before"))
    results = nbstream.compare(
        "same question", ["nbstream-demo", "fault-length"], thread="cmp", session=session,
        params={"nbstream": {"tokens": 4}},
    )  # fmt: skip
    assert [r.model for r in results] == ["nbstream-demo", "fault-length"]
    assert [r.finish_reason for r in results] == ["stop", "length"]
    for model in ("nbstream-demo", "fault-length"):
        users = [e.user for e in session.store.thread(f"cmp@{model}").exchanges]
        assert users == ["earlier", "same question"]
    assert [e.user for e in session.store.thread("cmp").exchanges] == ["earlier"]
    assert session.store.threads() == ["cmp", "cmp@nbstream-demo", "cmp@fault-length"]


def test_compare_without_a_thread_makes_no_branches(session, log) -> None:
    results = nbstream.compare("q", ["nbstream-demo", "fault-length"], session=session)
    assert [r.finish_reason for r in results] == ["stop", "length"]
    assert [len(r.body["messages"]) for r in log.records] == [1, 1]
    assert session.store.threads() == []
