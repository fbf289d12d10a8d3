"""Each fault model answers as its table entry says, seen in the raw bytes on the wire."""

from __future__ import annotations

import json

import httpx2
import pytest

from nbstream.engine.sse import ServerEvent, SSEParser
from nbstream.offline.faults import FRAMING_TEXT

HELLO = [{"role": "user", "content": "Hi"}]


def post(server, model: str, **body: object) -> httpx2.Response:
    request = {"model": model, "messages": HELLO, "stream": True, **body}
    return httpx2.post(f"{server.url}/chat/completions", json=request, timeout=30)


def chunks(raw: bytes) -> list[dict]:
    events = SSEParser().feed(raw + b"\n\n")
    return [json.loads(e.data) for e in events if isinstance(e, ServerEvent) and e.data != "[DONE]"]


def content(raw: bytes) -> str:
    deltas = [c["choices"][0]["delta"] for c in chunks(raw) if c.get("choices")]
    return "".join(d.get("content") or "" for d in deltas)


@pytest.mark.parametrize(
    ("model", "reason"), [("fault-length", "length"), ("fault-content-filter", "content_filter")]
)
def test_the_finish_reason_is_the_faults(server, log, model, reason) -> None:
    raw = post(server, model).content
    reasons = [c["choices"][0]["finish_reason"] for c in chunks(raw) if c["choices"]]
    assert reasons[-1] == reason and raw.rstrip().endswith(b"data: [DONE]")


def test_no_done_ends_after_the_finish_without_done(server, log) -> None:
    raw = post(server, "fault-no-done").content
    assert b"[DONE]" not in raw and chunks(raw)[-1]["choices"][0]["finish_reason"] == "stop"


def test_no_finish_sends_tokens_and_neither_finish_nor_done(server, log) -> None:
    raw = post(server, "fault-no-finish").content
    assert len(content(raw).split()) == 5 and b"[DONE]" not in raw
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks(raw) if c["choices"])


def test_framing_varies_line_ends_but_the_text_arrives_intact(server, log) -> None:
    raw = post(server, "fault-framing").content
    assert b"\r\n" in raw and b": " in raw  # CRLF line ends and comments
    assert content(raw) == FRAMING_TEXT


def test_json_ignores_stream_and_html_answers_a_login_page(server, log) -> None:
    whole = post(server, "fault-json")
    assert whole.headers["content-type"].startswith("application/json")
    assert whole.json()["object"] == "chat.completion"
    page = post(server, "fault-html")
    assert page.headers["content-type"].startswith("text/html") and b"Sign in" in page.content


def test_401_quotes_the_key_it_was_given_as_openai_does(server, log) -> None:
    # The server repeats the key on purpose: nbstream must redact it wherever it shows.
    answer = httpx2.post(
        f"{server.url}/chat/completions",
        json={"model": "fault-401", "messages": HELLO},
        headers={"Authorization": "Bearer sk-abcdefghijklmnop1234"},
        timeout=30,
    )
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
    assert "sk-abcdefghijklmnop1234" in answer.json()["error"]["message"]


def test_disconnect_drops_the_connection_mid_stream(server, log) -> None:
    with pytest.raises(httpx2.RemoteProtocolError):
        post(server, "fault-disconnect")
    assert log.records[-1].outcome == "aborted"
