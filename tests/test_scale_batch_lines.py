"""The Batch API's files without a server: request lines out, split files, result lines back."""

from __future__ import annotations

import json

from nbstream.engine.result import Status
from nbstream.scale.batch_lines import parse_results, request_line, split


def test_request_lines_carry_the_custom_id_and_never_ask_to_stream() -> None:
    line = request_line("k1", "m", [{"role": "user", "content": "hi"}],
                        {"stream": True, "stream_options": {}, "temperature": 0})  # fmt: skip
    assert line.endswith(b"\n") and b'"custom_id": "k1"' in line
    assert b"stream" not in line and b'"temperature": 0' in line


def test_files_are_split_at_the_line_and_byte_limits_in_order() -> None:
    lines = [f"{i:03d}\n".encode() for i in range(10)]
    assert [len(f) for f in split(lines, max_lines=4)] == [4, 4, 2]
    assert [len(f) for f in split(lines, max_bytes=12)] == [3, 3, 3, 1]
    assert b"".join(b"".join(f) for f in split(lines, max_lines=3)) == b"".join(lines)


def test_result_lines_are_filed_by_custom_id_with_failures_as_failed_items() -> None:
    ok = {
        "custom_id": "k1",
        "response": {
            "status_code": 200,
            "body": {
                "object": "chat.completion",
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Paris"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
        },
    }
    bad = {
        "custom_id": "k2",
        "response": {
            "status_code": 400,
            "body": {"error": {"code": "invalid_request", "message": "bad model"}},
        },
    }
    expired = {"custom_id": "k3", "error": {"code": "batch_expired", "message": "too late"}}
    text = "\n".join(json.dumps(line) for line in (expired, ok, bad)) + "\n\n"
    results = parse_results(text, "openai")
    assert list(results) == ["k3", "k1", "k2"]
    assert (results["k1"].status, results["k1"].text) == (Status.COMPLETE, "Paris")
    assert results["k1"].usage.completion_tokens == 1
    assert (results["k2"].status, results["k2"].error) == (
        Status.FAILED,
        "invalid_request: bad model",
    )
    assert results["k3"].error == "batch_expired: too late"
