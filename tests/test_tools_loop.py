"""The tool loop in-process, against the offline server through the real SDK.

The main thread waits for each turn (as a cell does) and runs the calls; the server's request
log shows what went back to the model.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import nbstream
from nbstream.engine.result import Status
from nbstream.engine.toolrounds import Outcome
from nbstream.session import Session
from nbstream.settings import Api, NbStream
from nbstream.show.rendering import bundle
from nbstream.tools.mainthread import INBOX

from .conftest import SECRET_KEY


@pytest.fixture
def session(server, log, monkeypatch, tmp_path) -> Session:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    config = NbStream(base_url=server.url, model="nbstream-demo", max_retries=0)
    return Session(config, cache=tmp_path / "cache.sqlite")


class Recorder:
    """Tools that note each call: its arguments and the thread it ran on."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], bool]] = []

    def note(self, name: str, **arguments: Any) -> None:
        on_main = threading.current_thread() is threading.main_thread()
        self.calls.append((name, arguments, on_main))


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def weather(rec: Recorder) -> Any:
    @nbstream.tool(safe=True)
    def weather(city: str) -> str:
        """The weather in a city."""
        rec.note("weather", city=city)
        return f"sunny in {city}"

    return weather


@pytest.fixture
def clock(rec: Recorder) -> Any:
    @nbstream.tool(safe=True)
    def clock(zone: str) -> str:
        """The time in a zone."""
        rec.note("clock", zone=zone)
        return f"noon in {zone}"

    return clock


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def opts(**given: Any) -> dict[str, Any]:
    return {"params": {"nbstream": given}} if given else {}


def test_two_rounds_call_the_tool_on_the_main_thread_then_answer_with_its_result(
    session, log, rec, weather
) -> None:
    result = nbstream.chat("Weather in Paris?", session=session, tools=[weather])
    assert result.status is Status.COMPLETE
    assert rec.calls == [("weather", {"city": "Paris"}, True)]
    assert "sunny in Paris" in result.text
    assert len(log.records) == 2
    first, second = (r.body for r in log.records)
    assert first["tools"][0]["function"]["name"] == "weather"
    assert first["tools"][0]["function"]["strict"] is True
    call = second["messages"][1]["tool_calls"][0]
    assert tool_messages(second) == [
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny in Paris"}
    ]
    [round_] = result.tool_rounds
    assert [(r.name, r.outcome, r.output) for r in round_.runs] == [
        ("weather", Outcome.OK, "sunny in Paris")
    ]


def test_usage_is_summed_over_the_rounds(session, log, weather) -> None:
    one = nbstream.chat("Weather?", session=session, tools=[weather])
    plain = nbstream.chat("Weather?", session=session)
    assert one.usage.prompt_tokens > plain.usage.prompt_tokens
    assert one.usage.total_tokens == one.usage.prompt_tokens + one.usage.completion_tokens


def test_parallel_calls_run_in_the_order_given(session, log, rec, weather, clock) -> None:
    result = nbstream.chat("Both", session=session, tools=[weather, clock], **opts(tool_calls=3))
    assert [name for name, _, _ in rec.calls] == ["weather", "clock", "weather"]
    sent = tool_messages(log.records[-1].body)
    calls = log.records[-1].body["messages"][1]["tool_calls"]
    assert [m["tool_call_id"] for m in sent] == [c["id"] for c in calls]
    assert [m["content"] for m in sent] == ["sunny in Paris", "noon in Paris", "sunny in Paris"]
    assert len(result.tool_rounds[0].runs) == 3


def test_a_tool_that_raises_sends_its_error_back(session, log) -> None:
    def broken(city: str) -> str:
        """Always fails."""
        raise LookupError(f"no station in {city}")

    result = nbstream.chat("Weather?", session=session, tools=[broken], approve="auto")
    assert result.status is Status.COMPLETE
    assert tool_messages(log.records[-1].body)[0]["content"] == (
        "error: LookupError: no station in Paris"
    )
    assert result.tool_rounds[0].runs[0].outcome is Outcome.ERROR


def test_without_stdin_an_unapproved_call_is_denied_and_never_runs(session, log, rec) -> None:
    def delete(path: str) -> str:
        """Delete a file."""
        rec.note("delete", path=path)
        return "deleted"

    # pytest has no stdin, as nbclient and papermill have none: input() raises.
    result = nbstream.chat("Clean up", session=session, tools=[delete])
    assert rec.calls == []
    assert tool_messages(log.records[-1].body)[0]["content"].startswith("denied")
    assert result.tool_rounds[0].runs[0].outcome is Outcome.DENIED


def test_approval_asks_and_a_no_is_denied(session, log, rec, monkeypatch) -> None:
    answers = iter(["n", "y"])
    asked: list[str] = []

    def fake_input(prompt: str = "") -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)

    def delete(path: str) -> str:
        """Delete a file."""
        rec.note("delete", path=path)
        return "deleted"

    nbstream.chat("Clean up", session=session, tools=[delete])
    assert rec.calls == [] and asked == ['nbstream: run delete({"path":"Paris"})? [y/N] ']
    nbstream.chat("Clean up", session=session, tools=[delete])
    assert [name for name, _, _ in rec.calls] == ["delete"]
    nbstream.chat("Clean up", session=session, tools=[delete], approve="auto")
    assert len(asked) == 2 and len(rec.calls) == 2


@pytest.mark.parametrize(
    ("model", "outcome", "says"),
    [
        ("fault-tool-bad-json", Outcome.ERROR, "error: the arguments are not a valid JSON object"),
        ("fault-tool-unknown", Outcome.UNKNOWN, "error: there is no tool named 'no_such_tool'"),
    ],
)
def test_bad_calls_go_back_as_errors_and_the_model_answers(
    session, log, rec, weather, model, outcome, says
) -> None:
    result = nbstream.chat("Weather?", session=session, tools=[weather], model=model)
    assert result.status is Status.COMPLETE and result.text
    assert rec.calls == []
    assert result.tool_rounds[0].runs[0].outcome is outcome
    assert tool_messages(log.records[-1].body)[0]["content"].startswith(says)


def test_a_call_loop_that_never_ends_stops_at_the_round_limit(session, log, rec, weather) -> None:
    result = nbstream.chat(
        "Weather?", session=session, tools=[weather], model="fault-tool-loop", max_tool_rounds=3
    )
    assert len(rec.calls) == 3 and len(result.tool_rounds) == 3
    assert len(log.records) == 4  # three rounds of calls, then the reply whose calls are not run
    assert result.status is Status.COMPLETE
    assert "stopped after 3 tool rounds; not run: weather" in result.notices
    default = nbstream.chat("Weather?", session=session, tools=[weather], model="fault-tool-loop")
    assert len(default.tool_rounds) == 8


def test_history_after_a_tool_turn_passes_the_servers_check(session, log, weather) -> None:
    chat = nbstream.Chat(session=session, tools=[weather])
    chat.send("Weather?")
    second = chat.send("And tomorrow?")
    assert second.status is Status.COMPLETE
    roles = [m["role"] for m in log.records[-2].body["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert [m["role"] for m in chat.history] == ["user", "assistant", "tool", "assistant", "user",
                                                 "assistant", "tool", "assistant"]  # fmt: skip


def test_the_responses_api_sends_calls_and_outputs_as_items(session, log, rec, weather) -> None:
    chat = nbstream.Chat(session=session, tools=[weather], api=Api.RESPONSES)
    first = chat.send("Weather?")
    assert "sunny in Paris" in first.text and len(rec.calls) == 1
    body = log.records[1].body
    assert log.records[1].endpoint == "responses"
    assert body["tools"][0]["name"] == "weather" and "function" not in body["tools"][0]
    kinds = [item.get("type") or item.get("role") for item in body["input"]]
    assert kinds == ["user", "function_call", "function_call_output"]
    chat.send("Again?")
    kinds = [item.get("type") or item.get("role") for item in log.records[-2].body["input"]]
    assert kinds == ["user", "function_call", "function_call_output", "assistant", "user"]


def test_a_replay_shows_the_recorded_calls_and_runs_nothing(session, log, rec, weather) -> None:
    recorded = nbstream.chat("Weather?", session=session, tools=[weather], cache="record")
    assert len(rec.calls) == 1
    sent = len(log.records)
    replayed = nbstream.chat("Weather?", session=session, tools=[weather], cache="strict")
    assert len(rec.calls) == 1 and len(log.records) == sent  # nothing ran, nothing was sent
    assert replayed.replayed and replayed.text == recorded.text
    assert replayed.tool_rounds == recorded.tool_rounds
    shown = bundle(replayed, "")
    for kind in ("text/markdown", "text/plain"):
        assert "tool calls replayed from the cache: no function ran" in shown[kind]
        assert "sunny in Paris" in shown[kind]


def test_the_cache_key_includes_the_tool_schemas(session, log, weather, clock) -> None:
    nbstream.chat("Weather?", session=session, tools=[weather], cache="record")
    with pytest.raises(nbstream.NbStreamError, match="no recorded reply"):
        nbstream.chat("Weather?", session=session, tools=[clock], cache="strict")


def test_a_key_returned_by_a_tool_is_masked_before_it_is_sent(session, log) -> None:
    @nbstream.tool(safe=True)
    def env(name: str) -> str:
        """Read an environment variable."""
        return f"OPENAI_API_KEY={SECRET_KEY}"

    result = nbstream.chat("Key?", session=session, tools=[env])
    assert SECRET_KEY not in json.dumps(log.records[-1].body)
    assert SECRET_KEY not in result.tool_rounds[0].runs[0].output


def test_the_round_is_stored_and_survives_a_reload(session, log, weather, tmp_path: Path) -> None:
    nbstream.chat("Weather?", session=session, tools=[weather], thread="kept")
    [exchange] = session.store.thread("kept").exchanges
    assert exchange.result.tool_rounds[0].runs[0].output == "sunny in Paris"


def test_many_turns_at_once_refuse_tools_in_one_line(session, log, weather) -> None:
    for call in (
        lambda: nbstream.gather(["a", "b"], session=session, tools=[weather]),
        lambda: nbstream.compare("a", ["nbstream-demo"], session=session, tools=[weather]),
        lambda: nbstream.map(["a"], "x {item}", session=session, tools=[weather]),
        lambda: nbstream.map(["a"], "x {item}", session=session, tools=[weather], mode="batch"),
    ):
        with pytest.raises(nbstream.NbStreamError, match="does not run tools"):
            call()
    assert log.records == []


def test_off_the_main_thread_of_a_plain_script_tools_are_refused(session, log, weather) -> None:
    with pytest.raises(nbstream.NbStreamError, match="it runs no event loop") as refused:
        nbstream.run(nbstream.achat("Weather?", session=session, tools=[weather]))
    assert "%load_ext nbstream first" in refused.value.hint
    assert log.records == []


def test_off_the_main_thread_calls_run_on_the_main_threads_event_loop(
    session, rec, weather
) -> None:
    async def main() -> str:
        INBOX.capture()  # as loading the extension does in a kernel
        turn = nbstream.achat("Weather in Paris?", session=session, tools=[weather], show=False)
        result = await asyncio.to_thread(nbstream.run, turn)  # no cell waits on the main thread
        return result.text

    assert "sunny in Paris" in asyncio.run(main())
    assert rec.calls == [("weather", {"city": "Paris"}, True)]


def test_reasoning_goes_back_inside_the_loop_only_where_the_api_wants_it(
    session, log, weather
) -> None:
    # Responses: the round's encrypted reasoning item goes back before its function call.
    nbstream.chat(
        "Weather?", session=session, tools=[weather], api=Api.RESPONSES,
        model="nbstream-hidden-reasoning",
    )  # fmt: skip
    kinds = [item.get("type") or item.get("role") for item in log.records[-1].body["input"]]
    assert kinds == ["user", "reasoning", "function_call", "function_call_output"]
    # Chat Completions (DeepSeek's reasoning_content): shown, never sent back.
    result = nbstream.chat(
        "Weather?", session=session, tools=[weather], model="nbstream-reasoning-content"
    )
    assert result.tool_rounds and result.reasoning  # the answer's reasoning is shown
    assistant = log.records[-1].body["messages"][1]
    assert set(assistant) == {"role", "content", "tool_calls"}
    assert "reasoning" not in json.dumps(log.records[-1].body["messages"])


def test_a_call_where_no_cell_waits_is_denied_without_asking(session, rec, monkeypatch) -> None:
    def delete(path: str) -> str:
        """Delete a file."""
        rec.note("delete", path=path)
        return "deleted"

    asked: list[str] = []
    monkeypatch.setattr(builtins, "input", lambda question: asked.append(question) or "y")

    async def main() -> nbstream.ChatResult:
        INBOX.capture()
        turn = nbstream.achat("Clean up", session=session, tools=[delete], show=False)
        return await asyncio.to_thread(nbstream.run, turn)  # the call runs on the event loop

    result = asyncio.run(main())
    assert asked == [] and rec.calls == []  # nobody waits to answer: denied, not asked
    assert result.tool_rounds[0].runs[0].outcome is Outcome.DENIED


def test_every_rounds_reasoning_is_kept_and_shown_before_its_calls(session, weather) -> None:
    result = nbstream.chat(
        "Weather?", session=session, tools=[weather], model="nbstream-reasoning-content"
    )
    [first] = result.tool_rounds
    assert first.reasoning.startswith("The request has 1 message;")  # before the call
    assert result.reasoning.startswith("The request has 3 messages;")  # before the answer
    shown = bundle(result, "")
    markdown, plain = shown["text/markdown"], shown["text/plain"]
    at = [markdown.index(part) for part in ("has 1 message;", "🔧 weather", "has 3 messages;")]
    assert at == sorted(at) and at[-1] < markdown.rindex("sunny in Paris")  # then the answer
    assert markdown.count("<details><summary>💭 Reasoning") == 2
    assert plain.index("[reasoned:") < plain.index("[tool weather") < plain.rindex("[reasoned:")
