"""The offline server's `/v1/batches`: create, get, cancel; lines answered in the background.

Each line of the input file is answered like a non-streaming chat request to this server, one
after another, `batch_delay` seconds apart (a line's own `nbstream` option). A line asking to
fail (`fail_status`) goes to the error file; a line with `expire` ends the batch as `expired`
before it, and every line left goes to the error file as `batch_expired`, as OpenAI does when
a batch's window closes. Cancelling stops between lines; the lines done so far are kept.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .backend import Backend
from .compose import build_reply
from .files import Files
from .requests import Refusal, parse_body, validate

_ids = itertools.count(1)
_ENDED = ("completed", "failed", "expired", "cancelled")


class Batches:
    """The batch endpoints and their state (touched on the server's loop only)."""

    def __init__(self, backend: Backend, files: Files) -> None:
        self.backend, self.files = backend, files
        self.batches: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def create(self, request: Request) -> Response:
        """POST /v1/batches: start answering an uploaded JSONL file."""
        body = parse_body(await request.body()) or {}
        source = self.files.stored.get(str(body.get("input_file_id")))
        if source is None:
            return Refusal(400, "input_file_id is not an uploaded file.", param="input_file_id"
                           ).response()  # fmt: skip
        lines = [json.loads(line) for line in source.data.decode().splitlines() if line.strip()]
        batch = _batch(f"batch_{next(_ids):06d}", body, source.id, len(lines))
        self.batches[batch["id"]] = batch
        # Kept until it ends, so that it is not collected mid-run.
        task = asyncio.get_running_loop().create_task(self._run(batch, lines))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse(batch)

    async def get(self, request: Request) -> Response:
        """GET /v1/batches/{batch_id}."""
        batch = self.batches.get(request.path_params["batch_id"])
        return JSONResponse(batch) if batch else _missing(request.path_params["batch_id"])

    async def cancel(self, request: Request) -> Response:
        """POST /v1/batches/{batch_id}/cancel: stop between lines."""
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _missing(request.path_params["batch_id"])
        if batch["status"] not in _ENDED:
            batch["status"] = "cancelling"
        return JSONResponse(batch)

    async def _run(self, batch: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
        outputs: list[str] = []
        errors: list[str] = []
        for number, line in enumerate(lines):
            if batch["status"] == "cancelling":
                break
            options = (line.get("body") or {}).get("nbstream") or {}
            if options.get("expire"):
                errors += [_expired(rest) for rest in lines[number:]]
                batch["status"] = "expired"
                break
            await anyio.sleep(float(options.get("batch_delay", 0.0)))
            answer, failed = self._answer(line)
            (errors if failed else outputs).append(answer)
            batch["request_counts"]["completed" if not failed else "failed"] += 1
        self._finish(batch, outputs, errors)

    def _answer(self, line: dict[str, Any]) -> tuple[str, bool]:
        """One output or error line, and whether it failed."""
        custom_id = line.get("custom_id")
        try:
            body, fault, opts = self.backend.fault_for(validate(line.get("body")))
            self.backend.fail_if_asked({k: v for k, v in opts.items() if k != "fail_in_band"})
            reply = build_reply(body, fault, opts, 0.0, 0.0, include_usage=False)
        except Refusal as refusal:
            response = {"status_code": refusal.status, "body": {"error": refusal.error}}
            return _line(custom_id, response, refusal.error), True
        return _line(custom_id, {"status_code": 200, "body": reply.whole()}, None), False

    def _finish(self, batch: dict[str, Any], outputs: list[str], errors: list[str]) -> None:
        if outputs:
            kept = self.files.add("output.jsonl", "batch_output", "".join(outputs).encode())
            batch["output_file_id"] = kept.id
        if errors:
            kept = self.files.add("errors.jsonl", "batch_output", "".join(errors).encode())
            batch["error_file_id"] = kept.id
        ended = {"cancelling": "cancelled", "expired": "expired"}.get(batch["status"], "completed")
        batch["status"] = ended
        batch[f"{ended}_at"] = int(time.time())


def _batch(batch_id: str, body: dict[str, Any], file_id: str, total: int) -> dict[str, Any]:
    return {"id": batch_id, "object": "batch", "endpoint": body.get("endpoint"),
            "errors": None, "input_file_id": file_id,
            "completion_window": body.get("completion_window", "24h"), "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
            "request_counts": {"total": total, "completed": 0, "failed": 0},
            "metadata": body.get("metadata")}  # fmt: skip


def _line(custom_id: Any, response: dict[str, Any] | None, error: Any) -> str:
    record = {"id": f"batch_req_{next(_ids):06d}", "custom_id": custom_id,
              "response": response, "error": error}  # fmt: skip
    return json.dumps(record) + "\n"


def _expired(line: dict[str, Any]) -> str:
    error = {"code": "batch_expired",
             "message": "This request could not be executed before the completion window "
                        "expired."}  # fmt: skip
    return _line(line.get("custom_id"), None, error)


def _missing(batch_id: str) -> Response:
    return Refusal(404, f"No such Batch object: {batch_id}", param="id").response()
