"""Threads and exchanges, and how an exchange's parts are kept in one versioned JSON column.

A row's `parts` is `{"v": 1, "user": ..., "result": ChatResult.to_dict(), "images": [...]}`
(images: what the user message attached, see attachments.py; left out when none); later
features add parts under a new `v` without a table migration. Rows are validated strictly
(types, enums, nesting, size) before anything reads them: a row that does not validate is
skipped and named in a warning, so it can never reach a model or crash a transcript.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..engine.result import ChatResult, Status

if TYPE_CHECKING:
    from pydantic import TypeAdapter

DEFAULT = "default"
PARTS_VERSION = 1
#: A stored exchange larger than this is not loaded (a reply is rarely past a few hundred kB).
MAX_PARTS = 16 * 1024 * 1024


@dataclass(frozen=True)
class Exchange:
    """One user message and the reply it got (possibly partial)."""

    user: str
    result: ChatResult
    cell_id: str | None = None
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)
    images: tuple[str, ...] = ()  # the user message's images by name (see attachments.py)

    @property
    def status(self) -> Status:
        """How the reply ended."""
        return self.result.status


@dataclass
class Thread:
    """A named conversation: an optional system prompt and its exchanges in order."""

    name: str
    system: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)


class InvalidRow(ValueError):
    """A stored exchange that cannot be used; the message says why in one line."""


@functools.cache
def _adapters() -> tuple[TypeAdapter[Any], TypeAdapter[ChatResult]]:
    """The validator of a row's parts and the serializer of a result, built on first use:
    pydantic's import and these schemas were a third of `%load_ext nbstream`."""
    from pydantic import ConfigDict, TypeAdapter
    from pydantic.dataclasses import dataclass as validated

    @validated(frozen=True, config=ConfigDict(strict=True))
    class _PartsV1:
        v: Literal[1]
        user: str
        result: ChatResult
        images: tuple[str, ...] = ()

    return TypeAdapter(_PartsV1), TypeAdapter(ChatResult)


def warm() -> None:
    """Build the validators now (on any thread), so that the first turn does not."""
    _adapters()


def encode_parts(exchange: Exchange) -> str:
    """The `parts` column of an exchange."""
    # pydantic's serializer: `to_dict()` then json.dumps was half the cost of a turn's write.
    result = _adapters()[1].dump_json(exchange.result).decode()
    user = json.dumps(exchange.user, ensure_ascii=False)
    images = f',"images":{json.dumps(exchange.images)}' if exchange.images else ""
    return f'{{"v":{PARTS_VERSION},"user":{user},"result":{result}{images}}}'


def decode_parts(text: object) -> tuple[str, ChatResult, tuple[str, ...]]:
    """The user message, result and image names kept in a `parts` column; raises InvalidRow."""
    if not isinstance(text, str):
        raise InvalidRow(f"parts is {type(text).__name__}, not JSON text")
    if len(text) > MAX_PARTS:
        raise InvalidRow(f"parts is {len(text)} characters, over the {MAX_PARTS} limit")
    from pydantic import ValidationError

    try:
        parts = _adapters()[0].validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "row"
        raise InvalidRow(f"{where}: {first['msg']}") from None
    return parts.user, parts.result, parts.images


def exchange_from_row(
    user_parts: object, cell_id: object, turn_id: object, created: object
) -> Exchange:
    """An Exchange from a row's columns; raises InvalidRow."""
    user, result, images = decode_parts(user_parts)
    if not (cell_id is None or isinstance(cell_id, str)) or not isinstance(turn_id, str):
        raise InvalidRow("cell_id or turn_id is not text")
    if not isinstance(created, (int, float)):
        raise InvalidRow(f"created is {type(created).__name__}, not a number")
    return Exchange(user, result, cell_id, turn_id, float(created), images)


def reply_content(result: ChatResult) -> str:
    """What is sent back as the assistant's turn: partial text is still what the user saw;
    a refusal stands in for missing text."""
    return result.text or result.refusal or ""


def summary(exchanges: list[Exchange]) -> str:
    """One line such as '3 turns, 1 interrupted'."""
    if not exchanges:
        return "no turns"
    parts = [f"{len(exchanges)} turn{'s' if len(exchanges) != 1 else ''}"]
    for status in Status:
        count = sum(ex.status is status for ex in exchanges)
        if status is not Status.COMPLETE and count:
            parts.append(f"{count} {status.value}")
    return ", ".join(parts)


def as_json(thread: Thread) -> str:
    """The thread as JSON, results in `ChatResult.to_dict()` form."""
    exchanges = [
        {
            "user": ex.user,
            "cell_id": ex.cell_id,
            "turn_id": ex.turn_id,
            "created": ex.created,
            "result": ex.result.to_dict(),
        }
        for ex in thread.exchanges
    ]
    record = {"thread": thread.name, "system": thread.system, "exchanges": exchanges}
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"
