"""The Batch API's files: request lines out, result lines back (pure; no I/O).

A request line is `{"custom_id", "method", "url", "body"}` with the same body a live turn
sends, without `stream`; its custom_id is the item's request key, so a result is filed under
it whatever order the provider writes them in. Files are split at OpenAI's limits: 50,000
requests or 200 MB each. A result line carries a `chat.completion` (status 200) or an error;
either becomes a `ChatResult`, through the same wire reader as a live reply.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..engine.accumulate import Accumulator
from ..engine.result import ChatResult, Finish, Status
from ..engine.wire import ChatWire, ServerError

MAX_LINES = 50_000
MAX_BYTES = 200 * 1024 * 1024
ENDPOINT = "/v1/chat/completions"
_LIVE_ONLY = ("stream", "stream_options")


def request_line(custom_id: str, model: str, messages: list[dict[str, Any]],
                 params: dict[str, Any]) -> bytes:  # fmt: skip
    """One JSONL line (with its newline) asking for a whole reply."""
    body = {"model": model, "messages": messages,
            **{k: v for k, v in params.items() if k not in _LIVE_ONLY}}  # fmt: skip
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, ensure_ascii=False).encode() + b"\n"


def split(
    lines: Sequence[bytes], max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES
) -> list[list[bytes]]:
    """`lines` in files of at most `max_lines` lines and `max_bytes` bytes, in order."""
    files: list[list[bytes]] = []
    size = 0
    for line in lines:
        if not files or len(files[-1]) >= max_lines or size + len(line) > max_bytes:
            files.append([])
            size = 0
        files[-1].append(line)
        size += len(line)
    return files


def parse_results(text: str, backend: str) -> dict[str, ChatResult]:
    """The results in an output or error file, by custom_id; failed lines as FAILED items."""
    found = {}
    for raw in text.splitlines():
        if raw.strip():
            line = json.loads(raw)
            found[str(line.get("custom_id"))] = _result(line, backend)
    return found


def _result(line: dict[str, Any], backend: str) -> ChatResult:
    response = line.get("response") or {}
    if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
        return from_completion(response["body"], backend)
    error = line.get("error") or (response.get("body") or {}).get("error") or {}
    code = error.get("code") or response.get("status_code") or "error"
    return ChatResult(status=Status.FAILED, error=f"{code}: {error.get('message', '')}".strip(),
                      backend=backend)  # fmt: skip


def from_completion(body: dict[str, Any], backend: str) -> ChatResult:
    """A whole `chat.completion` as the result a live turn would have given."""
    acc, wire = Accumulator(), ChatWire()
    acc.counted()
    for event in [*wire.feed(body), *wire.end()]:
        if isinstance(event, ServerError):
            return ChatResult(status=Status.FAILED, error=event.message, backend=backend)
        acc.apply(event)
    if acc.finish_reason is None:
        acc.apply(Finish("stop"))
    return acc.result(Status.COMPLETE, backend=backend)
