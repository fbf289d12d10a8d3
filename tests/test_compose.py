"""The offline server composes a reply from the request: its text, its limit, its reasoning."""

from __future__ import annotations

from nbstream.offline.compose import build_reply
from nbstream.offline.faults import DEMOS, FAULTS

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]


def compose(model: str = "nbstream-demo", opts: dict | None = None, **body: object):
    fault = DEMOS.get(model) or FAULTS[model]
    request = {"model": model, "messages": HELLO, **body}
    return build_reply(request, fault, opts or {}, 0, 0, include_usage=True)


def contents(deltas: list[dict]) -> str:
    return "".join(d.get("content") or "" for d in deltas)


def test_the_asked_text_is_sent_and_the_prompt_counted() -> None:
    reply = compose(opts={"text": "Hello there"})
    assert contents(reply.choices[0]) == "Hello there" and reply.finish == ["stop"]
    assert reply.prompt_tokens == (2 + 3) + (2 + 3)  # words plus 3 per message


def test_echo_sends_the_last_message_back_byte_for_byte() -> None:
    assert contents(compose(opts={"echo": True}).choices[0]) == "Say hi"


def test_max_tokens_cuts_the_reply_and_says_length() -> None:
    reply = compose(opts={"tokens": 20}, max_tokens=5)
    assert len(reply.choices[0]) - 1 == 5 and reply.finish == ["length"]


def test_reasoning_comes_first_and_counts_against_the_limit() -> None:
    reply = compose("nbstream-reasoning-content", max_tokens=2)
    assert reply.finish == ["length"] and contents(reply.choices[0]) == ""
    thoughts = [d.get("reasoning_content") for d in reply.choices[0][1:]]
    assert len(thoughts) == 2 and all(thoughts)
    assert reply.reasoning == 2


def test_a_fault_with_its_own_deltas_sends_them_with_its_finish() -> None:
    reply = compose("fault-tool-calls")
    assert reply.finish == ["tool_calls"] * len(reply.choices)
    assert any("tool_calls" in d for d in reply.choices[0])
