"""Server-sent events from a byte stream, parsed as the WHATWG spec says, comments included.

The SDK's decoder drops comments, but a `: keep-alive` comment is the only sign of life some
servers give while a model thinks, so nbstream reads the bytes itself. Lines end at CR, LF or
CRLF only (never U+2028, which JSON leaves raw inside strings); a line is decoded as UTF-8 only
once it is whole, so characters split across network reads come out intact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerEvent:
    """One dispatched event: its `data` lines joined by newlines, and its `event` name."""

    data: str
    event: str = ""


@dataclass(frozen=True)
class Comment:
    """A comment line (`: keep-alive`): no data, but the server is alive."""

    text: str


class SSEParser:
    """Feed it bytes as they arrive; it returns the events and comments they complete."""

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[str] = []
        self._event = ""

    def feed(self, data: bytes) -> list[ServerEvent | Comment]:
        """Parse the lines `data` completes; a trailing CR waits, it may be half of a CRLF."""
        buffer, start, items = self._pending + data, 0, []
        for end in _LINE_END.finditer(buffer):
            if end.group() == b"\r" and end.end() == len(buffer):
                break
            item = self._line(buffer[start : end.start()].decode("utf-8", "replace"))
            if item is not None:
                items.append(item)
            start = end.end()
        self._pending = buffer[start:]
        return items

    def _line(self, line: str) -> ServerEvent | Comment | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return Comment(line[1:].strip())
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None  # `id` and `retry` matter only to reconnecting clients

    def _dispatch(self) -> ServerEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        return ServerEvent("\n".join(data), event) if data else None
