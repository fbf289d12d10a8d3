"""Where a turn is shown: a notebook output updated in place, a terminal, or nowhere.

A surface takes the reply so far and a status line (`show`), then the final reply with its
footer and nbstream's record (`finish`); live.py decides when.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import IO, Any, Protocol

from ..engine.result import ChatResult, Status
from .rendering import bundle
from .segments import segment_cut

#: The metadata of an output still changing, until its final update replaces it: a reader of
#: the messages (`nbstream demo`) can tell a status line from a footer.
LIVE_META = {"nbstream_live": True}
#: UTF-8 bytes of reply one notebook output holds before the rest goes on in a new one: each
#: update re-sends its whole output (as Markdown, escaped, and as plain text), so a small live
#: output keeps a long reply's traffic near twice its size (measured: 24 kB outputs cost 8x
#: the reply at full speed, 6 kB ones 2.5 to 3x, the final updates' Markdown and plain text 2x).
SEGMENT = 6_000


class Surface(Protocol):
    """Where a turn is shown."""

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        """Show the reply so far with a status line; return the bytes that were sent."""

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Show the final reply with its footer and nbstream's record; called exactly once."""


class NotebookSurface:
    """Display outputs updated in place: Markdown plus plain text, metadata at the end.

    A reply longer than SEGMENT bytes goes on in a new output, cut where `segments` says (a
    block boundary, if it can), so that no update re-sends more than about SEGMENT bytes.
    """

    def __init__(self, *, plain: bool = False, quiet: bool = False) -> None:
        self._handle: Any = None
        self._plain = plain
        self._quiet = quiet
        self._frozen = 0  # characters of reply in finished outputs above the live one
        self._reopen = ""  # Markdown the live output starts with: a code fence, a table header

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        """Update the live output in place (the first call creates it)."""
        sent = self._freeze(result, notices)
        return sent + self._send(self._bundle(result, last_line, notices, live=True), LIVE_META)

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Send the final update, which is what the saved notebook keeps."""
        self._freeze(result, notices)
        footer_line = "" if self._quiet and result.status is Status.COMPLETE else last_line
        self._send(self._bundle(result, footer_line, notices), meta)

    def _bundle(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], *, live: bool = False
    ) -> dict[str, str]:
        tail = replace(result, text=result.text[self._frozen :])
        if self._frozen:  # the reasoning shows once, above the first segment
            tail = replace(tail, reasoning="", usage=replace(tail.usage, reasoning_tokens=None))
        shown = notices if self._frozen == 0 else ()
        reopened = replace(tail, text=self._reopen + tail.text)
        data = bundle(reopened, last_line, shown, plain_only=self._plain, live=live)
        if self._reopen:  # the plain text goes on as it is: the outputs read as one reply
            data["text/plain"] = bundle(tail, last_line, shown, plain_only=True, live=live)[
                "text/plain"
            ]
        return data

    def _freeze(self, result: ChatResult, notices: tuple[str, ...]) -> int:
        sent = 0
        while (cut := segment_cut(result.text, self._frozen, SEGMENT, self._reopen)) is not None:
            done = replace(result, text=result.text[: cut.end], tool_calls=(), refusal=None)
            sent += self._send(self._bundle(done, "", notices), {})
            self._handle, self._frozen, self._reopen = None, cut.end, cut.reopen
        return sent

    def _send(self, data: dict[str, str], metadata: dict[str, Any]) -> int:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(data, raw=True, metadata=metadata, display_id=True)
        else:
            self._handle.update(data, raw=True, metadata=metadata)
        return sum(len(value) for value in data.values())


class TerminalSurface:
    """Plain text: the reply is written as it grows, then the footer on its own line."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self._written = 0
        self._notices = 0

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        """Write the new part of the reply."""
        for notice in notices[self._notices :]:
            self._out.write(f"[{notice}]\n")
        self._notices = len(notices)
        new = result.text[self._written :]
        self._out.write(new)
        self._written = len(result.text)
        self._out.flush()
        return len(new)

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Write the rest of the reply, then the footer."""
        self.show(result, last_line, notices)
        tail = "".join(f"\n[tool call {c.name}({c.arguments})]" for c in result.tool_calls)
        if result.refusal:
            tail += f"\n[refusal: {result.refusal}]"
        self._out.write(f"{tail}\n\n{last_line}\n" if result.text or tail else f"{last_line}\n")
        self._out.flush()


class NullSurface:
    """Shows nothing: for scripts and for callers that only want the result."""

    def show(self, result: ChatResult, last_line: str, notices: tuple[str, ...]) -> int:
        """Nothing to show."""
        return 0

    def finish(
        self, result: ChatResult, last_line: str, notices: tuple[str, ...], meta: dict[str, Any]
    ) -> None:
        """Nothing to show."""


def surface_for(show: bool | None, *, plain: bool = False, quiet: bool = False) -> Surface:
    """The surface for this process: a notebook output in a kernel, text in a terminal.

    `show=None` decides by where the code runs (plain Python scripts stay silent),
    `True` always shows, `False` never does; `plain` and `quiet` are NotebookSurface's.
    """
    if show is False:
        return NullSurface()
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return NotebookSurface(plain=plain, quiet=quiet)
    if shell is not None or show:
        return TerminalSurface()
    return NullSurface()
