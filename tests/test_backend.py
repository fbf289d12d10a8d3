"""The offline server's endpoints: the model list, unknown models, fail counters, whole replies."""

from __future__ import annotations

import httpx2

from nbstream.offline.backend import DEMO_MODEL
from nbstream.offline.server import OfflineServer

HELLO = [{"role": "user", "content": "Hi"}]


def chat(url: str, **body: object) -> httpx2.Response:
    request = {"model": DEMO_MODEL, "messages": HELLO, **body}
    return httpx2.post(f"{url}/chat/completions", json=request, timeout=30)


def test_the_model_list_has_the_demos_and_with_faults_on_the_faults(server) -> None:
    ids = [m["id"] for m in httpx2.get(f"{server.url}/models", timeout=30).json()["data"]]
    assert ids[0] == DEMO_MODEL and "fault-401" in ids


def test_an_unknown_model_is_a_404_in_openais_words_or_a_400_when_asked(server, log) -> None:
    answer = chat(server.url, model="no-such-model")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == (
        "The model `no-such-model` does not exist or you do not have access to it."
    )
    assert log.records[-1].outcome == "error" and log.records[-1].status == 404


def test_a_key_fails_as_often_as_asked_then_succeeds(server, log, fault_key) -> None:
    options = {"fail_status": 429, "fail_times": 2, "key": fault_key, "retry_after": "3"}
    answers = [chat(server.url, nbstream=options) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert answers[0].json()["error"]["code"] == "rate_limit_exceeded"


def test_an_in_band_failure_is_an_error_event_in_a_200_stream(server, log, fault_key) -> None:
    options = {"fail_status": 500, "fail_in_band": True, "key": fault_key}
    answer = chat(server.url, stream=True, nbstream=options)
    assert answer.status_code == 200
    assert answer.text == (
        'data: {"error":{"message":"The server had an error while processing your request.",'
        '"type":"server_error","param":null,"code":null}}\n\n'
    )


def test_without_faults_any_model_name_answers_as_the_demo() -> None:
    with OfflineServer(rate=0, faults=False) as demo:
        whole = chat(demo.url, model="gpt-4o-mini", nbstream={"text": "hello"}).json()
        fault = chat(demo.url, model="fault-401")
    assert whole["model"] == DEMO_MODEL and whole["choices"][0]["message"]["content"] == "hello"
    assert fault.status_code == 200
