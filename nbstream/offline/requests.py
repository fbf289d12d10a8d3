"""The offline server's side of a request: validation like OpenAI's, and the request log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.responses import JSONResponse

#: The per-request options (the extra body field `nbstream`) and their types.
OPTIONS: dict[str, type] = {
    **dict.fromkeys(("text", "key", "retry_after", "replay", "unknown_as", "tool_arguments"), str),
    **dict.fromkeys(
        ("tokens", "fail_status", "fail_times", "reject_status", "tool_calls", "chunk_tokens"), int
    ),
    **dict.fromkeys(("rate", "first_token_delay", "stall", "keepalive", "batch_delay"), float),
    **dict.fromkeys(("fail_headers",), dict),
    **dict.fromkeys(("fail_in_band", "echo", "expire"), bool),
}


@dataclass(frozen=True)
class Plain:
    """An answer that is not OpenAI's JSON error: a login page, a proxy's plain text."""

    status: int
    media_type: str
    text: str


@dataclass
class RequestRecord:
    """One POST to /v1/chat/completions or /v1/responses as the server saw it; `outcome`
    starts as "pending"."""

    model: str
    body: dict[str, Any]
    authorization: str | None
    stream: bool
    include_usage: bool
    endpoint: str = "chat"  # or "responses"
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    outcome: str = "pending"  # complete, disconnected, aborted or error once it ends
    status: int = 200
    chunks_sent: int = 0  # SSE events written, [DONE] included


class RequestLog:
    """Thread-safe record of every chat request; tests read it while the server writes it."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._changed = threading.Condition()

    @property
    def records(self) -> list[RequestRecord]:
        """Snapshots of the records so far, oldest first."""
        with self._changed:
            return [replace(record) for record in self._records]

    def clear(self) -> None:
        """Forget all records."""
        with self._changed:
            self._records.clear()

    def wait_for(
        self, predicate: Callable[[list[RequestRecord]], bool], timeout: float = 5.0
    ) -> bool:
        """Wait until `predicate(records)` holds; False if `timeout` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.records), timeout)

    def _add(self, record: RequestRecord) -> RequestRecord:
        with self._changed:
            self._records.append(record)
            self._changed.notify_all()
        return record

    def _update(self, record: RequestRecord, **changes: Any) -> None:
        with self._changed:
            for name, value in changes.items():
                setattr(record, name, value)
            self._changed.notify_all()

    def _end(self, record: RequestRecord, outcome: str, status: int) -> None:
        self._update(record, outcome=outcome, status=status, ended=time.monotonic())


class Refusal(Exception):
    """An answer with an HTTP error status and OpenAI's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers
        self.error = {"message": message, "type": kind, "param": param, "code": code}

    def response(self) -> JSONResponse:
        """The refusal as an OpenAI-style JSON error response."""
        return JSONResponse({"error": self.error}, self.status, headers=self.headers)


def parse_body(raw: bytes) -> dict[str, Any] | None:
    """The JSON object in `raw`, or None."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _check_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is not None and (type(value) is not int or value < 1):
        raise Refusal(
            400,
            f"Invalid '{name}': expected an integer of at least 1.",
            param=name,
            code="invalid_value",
        )


def validate(body: dict[str, Any] | None) -> dict[str, Any]:
    """The body if it is a chat request; otherwise a 400 like OpenAI's."""
    if body is None:
        raise Refusal(
            400,
            "We could not parse the JSON body of your request. "
            "The OpenAI API expects a JSON object.",
        )
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Refusal(
            400,
            "You must provide a model parameter.",
            param="model",
            code="missing_required_parameter",
        )
    messages = body.get("messages")
    if messages is None:
        raise Refusal(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise Refusal(
            400,
            "Invalid type for 'messages': expected an array of objects.",
            param="messages",
            code="invalid_type",
        )
    if not messages:
        raise Refusal(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum "
            "length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    if "stream_options" in body and not body.get("stream"):
        raise Refusal(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    for name in ("max_tokens", "max_completion_tokens", "n"):
        _check_int(body, name)
    return body


def validate_responses(body: dict[str, Any] | None) -> dict[str, Any]:
    """The body if it is a Responses request; otherwise a 400 like OpenAI's."""
    if body is None:
        raise Refusal(400, "We could not parse the JSON body of your request.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Refusal(400, "Missing required parameter: 'model'.", param="model")
    given = body.get("input")
    if not isinstance(given, (str, list)) or (isinstance(given, list) and not given):
        raise Refusal(400, "Missing required parameter: 'input'.", param="input")
    for item in given if isinstance(given, list) else ():
        if isinstance(item, dict) and item.get("type") == "reasoning" and "id" not in item:
            raise Refusal(400, "Invalid 'input': a reasoning item needs its 'id'.", param="input")
    _check_int(body, "max_output_tokens")
    return body


def request_options(body: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The `nbstream` options over the model's defaults; a 400 for unknown or bad ones."""
    given = body.get("nbstream") or {}
    if not isinstance(given, dict):
        raise Refusal(400, "Invalid 'nbstream': expected an object of options.", param="nbstream")
    for name, value in given.items():
        kind = OPTIONS.get(name)
        if kind is None:
            raise Refusal(
                400,
                f"Unknown nbstream option '{name}'; known: {', '.join(OPTIONS)}.",
                param="nbstream",
            )
        number = type(value) in (int, float) and kind is float
        negative = kind in (int, float) and type(value) in (int, float) and value < 0
        if not (type(value) is kind or number) or negative:
            raise Refusal(
                400,
                f"Invalid nbstream option '{name}': expected a non-negative {kind.__name__}.",
                param="nbstream",
            )
    if not 400 <= given.get("fail_status", 400) <= 599:
        raise Refusal(
            400, "Invalid nbstream option 'fail_status': expected 400-599.", param="nbstream"
        )
    if given.get("chunk_tokens", 1) < 1:
        raise Refusal(
            400, "Invalid nbstream option 'chunk_tokens': expected 1 or more.", param="nbstream"
        )
    return {**defaults, **given}


def include_usage(body: dict[str, Any]) -> bool:
    """Whether the request asks for the usage chunk."""
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))
