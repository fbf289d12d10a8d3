"""The offline server's Batch API through the real SDK: lines answered in order to the output
file, failures and an expired window to the error file, cancelling between lines, and the
errors OpenAI gives for an unknown file or batch."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from nbstream.offline.server import OfflineServer

from .conftest import HANG


@pytest.fixture
def client(server: OfflineServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="none", max_retries=0)


def line(custom_id: str, text: str, **opts: Any) -> dict[str, Any]:
    body = {"model": "nbstream-demo", "messages": [{"role": "user", "content": text}],
            "nbstream": {"echo": True, **opts}}  # fmt: skip
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def start(client: openai.OpenAI, lines: list[dict[str, Any]]) -> Any:
    data = "".join(json.dumps(one) + "\n" for one in lines).encode()
    source = client.files.create(file=("in.jsonl", data), purpose="batch")
    return client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )


def ended(client: openai.OpenAI, batch_id: str) -> Any:
    """The batch once it has ended (polled: the server answers lines in the background)."""
    for _ in range(600):
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} never ended")


def records(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(x) for x in client.files.content(file_id).text.splitlines()]


def test_every_line_is_answered_in_order_to_the_output_file(client) -> None:
    batch = ended(client, start(client, [line("a", "one"), line("b", "two")]).id)
    assert batch.status == "completed" and batch.error_file_id is None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 0)
    out = records(client, batch.output_file_id)
    assert [r["custom_id"] for r in out] == ["a", "b"]
    assert [r["response"]["status_code"] for r in out] == [200, 200]
    said = [r["response"]["body"]["choices"][0]["message"]["content"] for r in out]
    assert said == ["one", "two"]  # `echo`: each line's reply is its own prompt


def test_a_failed_line_and_the_lines_left_at_expiry_go_to_the_error_file(client, fault_key) -> None:
    lines = [line("ok", "one"), line("bad", "two", fail_status=400, key=fault_key),
             line("late", "three", expire=True), line("later", "four")]  # fmt: skip
    batch = ended(client, start(client, lines).id)
    assert batch.status == "expired"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    assert [r["custom_id"] for r in records(client, batch.output_file_id)] == ["ok"]
    errors = records(client, batch.error_file_id)
    assert [r["custom_id"] for r in errors] == ["bad", "late", "later"]
    assert errors[0]["response"]["status_code"] == 400
    assert [r["error"]["code"] for r in errors[1:]] == ["batch_expired", "batch_expired"]


def test_cancelling_stops_between_lines_and_keeps_the_lines_done(client) -> None:
    # The cancel arrives while a line waits its delay: that line ends, no other starts. Lines
    # are answered one after another on the server's loop, so the count the cancel answers
    # with tells which line was waiting: "a" (after 1 s) unless a busy machine is slower to
    # cancel, then "b" (after HANG more); "c" never starts.
    batch = start(client, [line("a", "one", batch_delay=1), line("b", "two", batch_delay=HANG),
                           line("c", "three")])  # fmt: skip
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    done_before = cancelling.request_counts.completed
    assert done_before < 2
    batch = ended(client, batch.id)
    assert batch.status == "cancelled"
    kept = [r["custom_id"] for r in records(client, batch.output_file_id)]
    assert kept == ["a", "b"][: done_before + 1]


def test_an_unknown_input_file_or_batch_is_refused_as_openai_does(client) -> None:
    with pytest.raises(openai.BadRequestError, match="input_file_id is not an uploaded file"):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions",
                              completion_window="24h")  # fmt: skip
    with pytest.raises(openai.NotFoundError, match="No such Batch object: batch_nope"):
        client.batches.retrieve("batch_nope")
