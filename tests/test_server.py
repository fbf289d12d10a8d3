"""Tests of the offline backend over real HTTP, with the openai SDK and raw httpx2."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from nbstream.offline.compose import build_reply
from nbstream.offline.faults import FAULTS
from nbstream.offline.replies import Pause, Write
from nbstream.offline.server import (
    DEMO_MODEL,
    FAULTS_ENV,
    FRAMING_TEXT,
    OfflineServer,
    RequestRecord,
)

from .conftest import HANG

USER = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module")
def srv() -> Iterator[OfflineServer]:
    with OfflineServer(rate=0, first_token_delay=0, faults=True) as server:
        yield server


@pytest.fixture
def client(srv: OfflineServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0)


@pytest.fixture
def http(srv: OfflineServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=srv.url, timeout=HANG) as http_client:
        yield http_client


def chat(model: str = DEMO_MODEL, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": USER, **fields}


def sse_data(raw: bytes) -> list[str]:
    """The data of each event in a well-framed (LF-only) stream."""
    return [e.removeprefix("data: ") for e in raw.decode().split("\n\n") if e.startswith("data")]


def last(srv: OfflineServer) -> RequestRecord:
    return srv.log.records[-1]


def wait_outcome(srv: OfflineServer, outcome: str, timeout: float) -> bool:
    return srv.log.wait_for(lambda records: records[-1].outcome == outcome, timeout)


def test_models_list_names_demo_and_faults(http: httpx2.Client) -> None:
    listing = http.get("/models").json()
    assert listing["object"] == "list"
    owners = {m["id"]: m["owned_by"] for m in listing["data"]}
    assert owners[DEMO_MODEL] == "nbstream"
    assert owners["fault-framing"] == owners["fault-401"] == "nbstream-faults"
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in listing["data"])


def test_demo_stream_matches_the_non_streaming_reply(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=DEMO_MODEL, messages=USER, temperature=0.7)
    chunks = list(
        client.chat.completions.create(
            model=DEMO_MODEL,
            messages=USER,
            temperature=0.7,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert text.startswith("**Offline demo reply**") and "not a language model" in text
    assert "Sampling: temperature 0.7." in text and "> Hello there" in text
    assert 60 <= whole.usage.completion_tokens <= 120
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert all(
        c.id.startswith("chatcmpl-") and c.system_fingerprint == "fp_nbstream" for c in chunks
    )


def test_raw_stream_is_openai_shaped(http: httpx2.Client) -> None:
    plain = http.post("/chat/completions", json=chat(stream=True, nbstream={"tokens": 3}))
    assert plain.headers["content-type"].startswith("text/event-stream")
    events = sse_data(plain.content)
    assert events[-1] == "[DONE]" and plain.content.endswith(b"data: [DONE]\n\n")
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert all("usage" not in c for c in chunks) and len(chunks) == 5
    with_usage = http.post(
        "/chat/completions",
        json=chat(stream=True, stream_options={"include_usage": True}, nbstream={"tokens": 3}),
    )
    chunks = [json.loads(e) for e in sse_data(with_usage.content)[:-1]]
    assert [c["usage"] for c in chunks[:-1]] == [None] * 5
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def test_max_tokens_cuts_the_reply_with_finish_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model=DEMO_MODEL, messages=USER, max_tokens=7)
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 7
    chunks = list(
        client.chat.completions.create(
            model=DEMO_MODEL, messages=USER, max_completion_tokens=4, stream=True
        )
    )
    assert sum(bool(c.choices[0].delta.content) for c in chunks) == 4
    assert chunks[-1].choices[0].finish_reason == "length"


def test_text_option_is_reproduced_byte_for_byte(client: openai.OpenAI) -> None:
    text = "  <script>alert('x')</script>\n\n| a | b |\r\n`code` 你好 👩\u200d💻  trailing \n"
    chunks = client.chat.completions.create(
        model=DEMO_MODEL, messages=USER, stream=True, extra_body={"nbstream": {"text": text}}
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text


def test_echo_option_replies_with_the_last_message_byte_for_byte(client: openai.OpenAI) -> None:
    text = "```\n<img src=x>\n````\n$a$ 你好 \r\n trailing "
    messages = [*USER, {"role": "assistant", "content": "hi"}, {"role": "user", "content": text}]
    chunks = client.chat.completions.create(
        model=DEMO_MODEL, messages=messages, stream=True, extra_body={"nbstream": {"echo": True}}
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text


def contents_and_usage(client: openai.OpenAI, **options: Any) -> tuple[list[str], Any]:
    """The content deltas of a streamed demo reply with these options, and its usage."""
    chunks = list(
        client.chat.completions.create(
            model=DEMO_MODEL,
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"nbstream": options},
        )
    )
    contents = [c.choices[0].delta.content for c in chunks[:-1] if c.choices[0].delta.content]
    return contents, chunks[-1].usage


def test_tokens_option_gives_exactly_that_many_chunks(client: openai.OpenAI) -> None:
    contents, usage = contents_and_usage(client, tokens=250)
    assert len(contents) == 250 and usage.completion_tokens == 250
    assert "\n\n" in "".join(contents)


def test_chunk_tokens_sends_that_many_tokens_a_delta_and_counts_them_all(
    client: openai.OpenAI,
) -> None:
    plain, _ = contents_and_usage(client, tokens=25)
    contents, usage = contents_and_usage(client, tokens=25, chunk_tokens=10)
    assert "".join(contents) == "".join(plain) and len(contents) == 3  # 10 + 10 + 5
    assert usage.completion_tokens == 25


def test_chunk_tokens_keeps_the_pace_in_tokens(http: httpx2.Client) -> None:
    # 20 tokens at 40 tokens/s in deltas of 10: two writes 0.25 s apart, not 0.025 s.
    body = chat(stream=True, nbstream={"tokens": 20, "rate": 40, "chunk_tokens": 10,
                                       "first_token_delay": 0})  # fmt: skip
    started = time.monotonic()
    with http.stream("POST", "/chat/completions", json=body) as response:
        stamps = [time.monotonic() - started for _ in response.iter_raw()]
    assert stamps[-1] >= 0.25  # a lower bound only: load delays, never hastens


def test_fail_status_fails_the_first_requests_per_key(http: httpx2.Client) -> None:
    options = {"fail_status": 429, "fail_times": 2, "key": "t-429", "retry_after": "7"}
    first, second, third = (
        http.post("/chat/completions", json=chat(nbstream=options)) for _ in range(3)
    )
    assert first.status_code == second.status_code == 429 and third.status_code == 200
    assert first.headers["retry-after"] == "7"
    assert first.json()["error"]["message"].startswith("Rate limit reached, retry after 7 s")
    other = http.post("/chat/completions", json=chat(nbstream={"fail_status": 503, "key": "t-5"}))
    assert other.status_code == 503 and "retry-after" not in other.headers
    assert other.json()["error"] == {
        "message": "The server had an error while processing your request.",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_retry_after_is_sent_verbatim(http: httpx2.Client, srv: OfflineServer) -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    options = {"fail_status": 503, "key": "t-date", "retry_after": date}
    response = http.post("/chat/completions", json=chat(nbstream=options))
    assert response.headers["retry-after"] == date
    assert last(srv).outcome == "error" and last(srv).status == 503


def test_unknown_model_is_a_404_like_openai(http: httpx2.Client) -> None:
    response = http.post("/chat/completions", json=chat("gpt-nope"))
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model `gpt-nope` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b"{not json", None),
        (b'{"model": "nbstream-demo"}', "messages"),
        (b'{"model": "nbstream-demo", "messages": []}', "messages"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (
            b'{"model": "nbstream-demo", "messages": [{}], "nbstream": {"rate": "x"}}',
            "nbstream",
        ),
    ],
)
def test_bad_bodies_are_400s(http: httpx2.Client, content: bytes, param: str | None) -> None:
    response = http.post(
        "/chat/completions", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert set(error) == {"message", "type", "param", "code"}


def test_wrong_paths_get_openai_shaped_errors(http: httpx2.Client) -> None:
    missing = http.post("/completions", json=chat())
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/completions)"
    assert http.get("/chat/completions").status_code == 405


def test_fault_401_echoes_the_full_key(srv: OfflineServer) -> None:
    key = "sk-proj-SECRET0123456789abcdef"
    client = openai.OpenAI(base_url=srv.url, api_key=key, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="fault-401", messages=USER)
    assert caught.value.status_code == 401
    assert caught.value.body["message"] == f"Incorrect API key provided: {key}."
    assert caught.value.body["code"] == "invalid_api_key"
    assert last(srv).authorization == f"Bearer {key}"


def test_fault_disconnect_breaks_the_transfer(http: httpx2.Client, srv: OfflineServer) -> None:
    received = bytearray()
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        http.stream(
            "POST", "/chat/completions", json=chat("fault-disconnect", stream=True)
        ) as response,
    ):
        for data in response.iter_raw():
            received += data
    assert received.count(b'"content"') == 6 and b"[DONE]" not in received
    assert b'"finish_reason":"stop"' not in received
    assert wait_outcome(srv, "aborted", HANG) and last(srv).chunks_sent == 6


def decodes(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def anonymous(stream: bytes) -> bytes:
    """`stream` without the ids and creation times, which differ from reply to reply."""
    return re.sub(rb'"id":"chatcmpl-\w+"|"created":\d+', b"", stream)


def test_fault_framing_splits_characters_and_varies_line_ends(
    http: httpx2.Client, client: openai.OpenAI
) -> None:
    with http.stream("POST", "/chat/completions", json=chat("fault-framing", stream=True)) as r:
        raw = r.read()
    assert b"\r\n\r\n" in raw and b"\r\r" in raw and b": ping" in raw and b"\n\ndata:{" in raw
    assert raw.endswith(b'data: [DONE]\n\ndata: {"after":"done"}\n\n')
    # Whether one of the client's reads lands between two writes is the scheduler's choice (a
    # starved client reads the stream in one piece), so the splits are checked where they are
    # made: writes that end inside a character, each followed by a pause before the rest.
    fault = FAULTS["fault-framing"]
    reply = build_reply(chat("fault-framing"), fault, {}, 0, 0, include_usage=False)
    ops = fault.stream(reply, {})
    served = b"".join(op.data for op in ops if isinstance(op, Write))
    assert anonymous(served) == anonymous(raw)  # these are the writes the server made
    splitting = [i for i, op in enumerate(ops) if isinstance(op, Write) and not decodes(op.data)]
    assert splitting, "no write splits a character"
    assert all(isinstance(ops[i + 1], Pause) for i in splitting)
    chunks = client.chat.completions.create(model="fault-framing", messages=USER, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == FRAMING_TEXT


def test_disconnect_during_a_stall_is_seen_at_once(http: httpx2.Client, srv: OfflineServer) -> None:
    with http.stream("POST", "/chat/completions", json=chat("fault-stall", stream=True)) as r:
        first = next(r.iter_raw())
        assert first.startswith(b"data: ")
        assert srv.log.wait_for(lambda records: records[-1].chunks_sent == 4, HANG)
    assert wait_outcome(srv, "disconnected", HANG)  # seen during the hour-long stall
    assert last(srv).chunks_sent == 4


def test_disconnect_before_the_first_token_is_seen_at_once(
    http: httpx2.Client, srv: OfflineServer
) -> None:
    body = chat("fault-slow", stream=True, nbstream={"first_token_delay": 30})
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
    assert wait_outcome(srv, "disconnected", HANG)  # seen before the 30 s delay ends
    assert last(srv).chunks_sent == 0


def test_stall_sends_keep_alive_comments_then_finishes(http: httpx2.Client) -> None:
    body = chat("fault-stall", stream=True, nbstream={"stall": 1.0, "keepalive": 0.02})
    raw = http.post("/chat/completions", json=body).content
    # At most one per 0.02 s of the stall; at least one, as the server's first 0.02 s sleep
    # ends long before the stall does, even on a busy machine.
    assert 1 <= raw.count(b": keep-alive\n\n") <= 50 and raw.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize(
    ("model", "expect", "absent"),
    [
        ("fault-no-finish", b'"content"', (b'finish_reason":"', b"[DONE]")),
        ("fault-no-done", b'"finish_reason":"stop"', (b"[DONE]",)),
        ("fault-error-event", b'data: {"error": {"message": "The model crashed', (b"[DONE]",)),
        ("fault-malformed", b'{"content": "oops"\n\n', (b"[DONE]",)),
        ("fault-length", b'"finish_reason":"length"', ()),
        ("fault-content-filter", b'"finish_reason":"content_filter"', ()),
        ("fault-no-usage", b"[DONE]", (b'"usage"',)),
    ],
)
def test_stream_faults(
    http: httpx2.Client, srv: OfflineServer, model: str, expect: bytes, absent: tuple[bytes, ...]
) -> None:
    body = chat(model, stream=True, stream_options={"include_usage": model != "fault-no-usage"})
    raw = http.post("/chat/completions", json=body).content
    assert expect in raw and not any(a in raw for a in absent)
    assert last(srv).outcome == "complete"


def test_reject_stream_options(http: httpx2.Client) -> None:
    body = chat(
        "fault-reject-stream-options",
        stream=True,
        stream_options={"include_usage": True},
        nbstream={"reject_status": 422},
    )
    rejected = http.post("/chat/completions", json=body)
    assert rejected.status_code == 422
    assert rejected.json()["error"]["message"] == (
        "Unrecognized request argument supplied: stream_options"
    )
    del body["stream_options"]
    assert sse_data(http.post("/chat/completions", json=body).content)[-1] == "[DONE]"


def test_fault_json_and_html_and_plain_error(http: httpx2.Client, srv: OfflineServer) -> None:
    answer = http.post("/chat/completions", json=chat("fault-json", stream=True))
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["object"] == "chat.completion"
    page = http.post("/chat/completions", json=chat("fault-html", stream=True))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!DOCTYPE html><html><head><title>Sign in</title>")
    gateway = http.post("/chat/completions", json=chat("fault-plain-error"))
    assert (gateway.status_code, gateway.text) == (502, "Bad Gateway")
    assert gateway.headers["content-type"].startswith("text/plain")
    assert (last(srv).outcome, last(srv).status) == ("error", 502)


def test_tool_calls_stream_and_merge(client: openai.OpenAI) -> None:
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(
        model="fault-tool-calls", messages=USER, stream=True
    ):
        delta, finish = chunk.choices[0].delta, chunk.choices[0].finish_reason or finish
        assert delta.content is None
        for call in delta.tool_calls or ():
            known = calls.setdefault(call.index, {"id": call.id, "name": "", "arguments": ""})
            known["name"] += call.function.name or ""
            known["arguments"] += call.function.arguments or ""
    assert finish == "tool_calls" and [c["id"] for c in calls.values()] == ["call_1", "call_2"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "C"}
    whole = client.chat.completions.create(model="fault-tool-calls", messages=USER)
    assert whole.choices[0].message.tool_calls[1].function.arguments == calls[1]["arguments"]


def test_refusal_streams_with_null_content(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="fault-refusal", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.refusal or "" for c in chunks) == "I can't help with that."
    assert all(c.choices[0].delta.content is None for c in chunks)


def test_choices_interleave(client: openai.OpenAI) -> None:
    texts = {0: "", 1: "", 2: ""}
    order, finishes = [], {}
    for chunk in client.chat.completions.create(
        model="fault-choices", messages=USER, n=3, stream=True
    ):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            order.append(choice.index)
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts[0] == "This is choice 0." and texts[2].endswith("It runs longer.")
    assert order[:6] == [0, 1, 2, 0, 1, 2] and finishes == {0: "stop", 1: "stop", 2: "stop"}


def test_5000_tokens_unpaced_all_arrive_and_complete(
    client: openai.OpenAI, srv: OfflineServer
) -> None:
    chunks = client.chat.completions.create(
        model=DEMO_MODEL, messages=USER, stream=True, extra_body={"nbstream": {"tokens": 5000}}
    )
    assert sum(1 for _ in chunks) == 5002  # how quickly: benchmarks/bench_latency.py
    assert last(srv).chunks_sent == 5003 and last(srv).outcome == "complete"


def test_pacing_follows_rate_and_first_token_delay(http: httpx2.Client) -> None:
    body = chat(stream=True, nbstream={"tokens": 11, "rate": 20, "first_token_delay": 0.2})
    started = time.monotonic()
    with http.stream("POST", "/chat/completions", json=body) as response:
        stamps = [time.monotonic() - started for _ in response.iter_raw()]
    # Lower bounds only (load delays, never hastens); the upper ones: bench_latency.py.
    assert stamps[0] >= 0.2
    assert stamps[-1] >= 0.7  # 10 intervals of 0.05 s after the first token


def test_stop_aborts_open_streams_and_is_idempotent() -> None:
    server = OfflineServer(rate=0, first_token_delay=0).start()
    with (
        httpx2.Client(base_url=server.url, timeout=HANG) as http,
        http.stream("POST", "/chat/completions", json=chat("fault-stall", stream=True)) as response,
    ):
        pieces = response.iter_raw()
        next(pieces)
        server.stop()  # during an hour-long stall: a hang fails by the test timeout
        with pytest.raises(httpx2.RemoteProtocolError):
            list(pieces)
    assert server.log.records[-1].outcome == "aborted"
    server.stop()


def test_serve_prints_its_url_and_stops_on_ctrl_c() -> None:
    code = "from nbstream.offline.server import serve; serve('127.0.0.1', 0, 100.0, 0.05)"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("nbstream offline server at http://127.0.0.1:")
        assert line.rstrip().endswith("/v1 (demo model: nbstream-demo)")
        url = line.split()[4]
        assert httpx2.get(f"{url}/models").status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=HANG) == 0  # a hang guard: a busy machine is slow to exit
    finally:
        process.kill()
        process.stdout.close()


def test_without_fault_models_only_the_demos_are_listed_and_any_name_is_the_demo() -> None:
    with OfflineServer(rate=0, first_token_delay=0, faults=False) as plain:
        listed = [m["id"] for m in httpx2.get(f"{plain.url}/models").json()["data"]]
        assert DEMO_MODEL in listed and not any(name.startswith("fault-") for name in listed)
        client = openai.OpenAI(base_url=plain.url, api_key="x", max_retries=0)
        for name in ("gpt-4o-mini", "fault-401"):
            reply = client.chat.completions.create(model=name, messages=USER)
            assert reply.model == DEMO_MODEL
            assert reply.choices[0].message.content.startswith("**Offline demo reply**")


def test_fault_models_follow_the_environment_variable(monkeypatch) -> None:
    monkeypatch.setenv(FAULTS_ENV, "0")
    assert OfflineServer().faults is False
    monkeypatch.setenv(FAULTS_ENV, "1")
    assert OfflineServer().faults is True
