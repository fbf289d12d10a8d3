"""The offline server's `/v1/files`: upload (multipart, as the SDK sends it), get, `/content`.

Files live in memory for the server's life: batch inputs uploaded by clients, and the output
and error files the batches write.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .requests import Refusal

_ids = itertools.count(1)


@dataclass(frozen=True)
class StoredFile:
    """One file: its OpenAI-shaped description and its bytes."""

    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def described(self) -> dict[str, Any]:
        """The file object as `/v1/files` answers it."""
        return {"id": self.id, "object": "file", "bytes": len(self.data),
                "created_at": self.created_at, "filename": self.filename,
                "purpose": self.purpose, "status": "processed"}  # fmt: skip


class Files:
    """The file endpoints and their store (touched on the server's loop only)."""

    def __init__(self) -> None:
        self.stored: dict[str, StoredFile] = {}

    def add(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        """Keep a file; returns it with its new id."""
        stored = StoredFile(f"file-{next(_ids):06d}", filename, purpose, data, int(time.time()))
        self.stored[stored.id] = stored
        return stored

    async def upload(self, request: Request) -> Response:
        """POST /v1/files: a multipart form with `file` and `purpose`."""
        kind = request.headers.get("content-type", "")
        if not kind.startswith("multipart/form-data"):
            return Refusal(400, "Expected a multipart/form-data upload.").response()
        fields = _form(kind, await request.body())
        if "file" not in fields or "purpose" not in fields:
            return Refusal(400, "Missing 'file' or 'purpose'.", param="file").response()
        name, data = fields["file"]
        stored = self.add(name or "upload.jsonl", fields["purpose"][1].decode().strip(), data)
        return JSONResponse(stored.described())

    async def get(self, request: Request) -> Response:
        """GET /v1/files/{file_id}."""
        stored = self.stored.get(request.path_params["file_id"])
        if stored is None:
            return _missing(request.path_params["file_id"])
        return JSONResponse(stored.described())

    async def content(self, request: Request) -> Response:
        """GET /v1/files/{file_id}/content: the bytes."""
        stored = self.stored.get(request.path_params["file_id"])
        if stored is None:
            return _missing(request.path_params["file_id"])
        return Response(stored.data, media_type="application/octet-stream")


def _form(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart form by name: (filename, bytes). The stdlib's MIME parser
    reads it once it is given the request's Content-Type header."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = (part.get_filename(), payload)
    return parts


def _missing(file_id: str) -> Response:
    return Refusal(404, f"No such File object: {file_id}", param="id").response()
