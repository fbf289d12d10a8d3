"""Where a long reply is cut into several notebook outputs, so that no update re-sends it all.

Each update re-sends its whole output, so a reply is shown as segments of at most about
`limit` UTF-8 bytes. A segment ends at a boundary between the top-level blocks of the
renderer's own parse tree; when one block alone is too long (a reply with no blank lines: plain
prose, one long code block, a long list or table, CJK text) it is cut inside the block: between
list items, between table rows (the next segment repeats the header), between lines of a code
block (closed by the end of its segment, reopened with the same fence by the next), between
lines, and at last between words or characters. Every segment is rendered on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .markdown import parse_blocks

if TYPE_CHECKING:
    from markdown_it.token import Token

#: Line ends as the Markdown parser counts them.
_LINE_END = re.compile(r"\r\n|\r|\n")
#: Where CJK text without spaces may be cut: after a sentence or clause (the ideographic full
#: stop, the fullwidth ! ? ; and comma, the ideographic comma).
_CJK_STOPS = "\u3002\uff01\uff1f\uff1b\uff0c\u3001"


@dataclass(frozen=True)
class Cut:
    """A segment ends at `end` (an offset in the reply); the next one starts with `reopen`."""

    end: int
    reopen: str = ""


def segment_cut(text: str, start: int, limit: int, reopen: str = "") -> Cut | None:
    """Where the segment that begins at `start` (shown after `reopen`) ends, once it is longer
    than `limit` UTF-8 bytes; None while it is not."""
    body = text[start:]
    if len(body) <= limit // 4 or len(body.encode()) <= limit:
        return None
    shown = reopen + body
    room = len(shown.encode()[: len(reopen.encode()) + limit].decode("utf-8", "ignore"))
    # Only whole lines up to the limit are parsed: the last line may still grow, and the
    # blocks that start within the limit start there whatever follows.
    source = shown[: shown.rfind("\n", len(reopen), room + 1) + 1] or reopen
    offset, carry = _cut_in(source, shown, room, len(reopen))
    return Cut(start + offset - len(reopen), carry)


def _cut_in(source: str, shown: str, room: int, least: int) -> tuple[int, str]:
    """The cut in `shown` (whose whole lines are `source`) within `room` characters and past
    `least`, and what the next segment reopens with."""
    starts, tokens = _line_starts(source), parse_blocks(source)
    blocks = [t for t in tokens if t.level == 0 and t.nesting >= 0 and t.map]
    # A block's first line is whole in `source`, so every block starts before `room`.
    between = [s for t in blocks[1:] if least < (s := starts[_first_line(t)])]
    if between:
        return between[-1], ""
    first = blocks[0] if blocks else None
    inside, floor, carry = _inside(first, tokens, source, starts) if first else ([], least, "")
    fitting = [s for s in inside if max(least, floor) < s <= room]
    cut = fitting[-1] if fitting else _in_line(shown, max(least, floor), room)
    # Past a block that ends in `source`, the next segment starts after it: nothing reopens.
    return cut, "" if first is None or _ended(first, cut, starts) else carry


def _inside(
    block: Token, tokens: list[Token], source: str, starts: list[int]
) -> tuple[list[int], int, str]:
    """Where `block` may be cut: candidate offsets, the offset a cut must pass, and the
    Markdown that reopens it in the next segment."""
    first, end = block.map or (0, 0)  # pragma: no mutate  # blocks are chosen by their map
    lines = starts[first : end + 1]
    # `source` is whole lines, so a block's first line ends with its line end, and the lines
    # that reopen a block in the next segment are copied with theirs.
    if block.type == "fence":
        return lines, starts[first + 1], source[starts[first] : starts[first + 1]]
    if block.type == "table_open":  # its header and delimiter rows are whole lines
        return lines, starts[first + 2], source[starts[first] : starts[first + 2]]
    if block.type in ("bullet_list_open", "ordered_list_open"):
        # A list is cut inside only when it is the one block in `source`: all items are its own.
        items = [_first_line(t) for t in tokens if t.type == "list_item_open" and t.level == 1]
        return [starts[i] for i in items if i > first] or lines, starts[first], ""
    return lines, starts[first], ""


def _ended(block: Token, cut: int, starts: list[int]) -> bool:
    """Whether `block` ends at or before `cut`: a code block at its closing fence, a table at
    a line after it (while its last row is the last whole line, the next may be a row)."""
    first, end = block.map or (0, 0)  # pragma: no mutate  # blocks are chosen by their map
    if block.type == "fence":
        # An unclosed fence holds every line after its first, a closed one all but the last.
        ends = block.content.count("\n") < end - first - 1
    else:
        ends = end < len(starts) - 1
    return ends and starts[end] <= cut


def _in_line(shown: str, least: int, room: int) -> int:
    """A cut inside a line (one longer than a segment): after the last space, else after a
    CJK stop, else at the limit; always past `least`."""
    room = max(room, least + 1)
    space = shown.rfind(" ", least + 1, room)
    if space > least:
        return space + 1
    stop = max(shown.rfind(mark, least + 1, room - 1) for mark in _CJK_STOPS)
    return stop + 1 if stop > least else room


def _line_starts(source: str) -> list[int]:
    """The offset of each line's start, as the parser numbers lines, and the end."""
    return [0, *(m.end() for m in _LINE_END.finditer(source))]


def _first_line(token: Token) -> int:
    return token.map[0] if token.map else 0  # pragma: no mutate  # every block token has one
