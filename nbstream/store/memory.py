"""This kernel's copy of a notebook's threads: what it last read, and its unsaved changes.

Owned by the ConversationStore and changed only under its lock. Each change publishes a
snapshot per thread (`latest`), read without the lock: the loop thread may show a thread
without waiting for a disk write on another thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..engine.toolrounds import round_messages
from .attachments import Blob
from .records import Exchange, Thread, reply_content
from .rows import Delta, Known, Op


class Memory:
    """Threads as last read from the database (`known`), the changes not yet written in
    order (`unsaved`), and their sum as each thread's published snapshot."""

    def __init__(self) -> None:
        self.known: dict[str, Known] = {}
        self.unsaved: list[Op] = []
        self._latest: dict[str, Thread] = {}  # replaced whole, never changed in place

    def view(self, name: str) -> Thread:
        """Thread `name` as this kernel sees it: what it read plus what it has not written."""
        known = self.known.get(name)
        thread = Thread(name, known.system, list(known.rows.values())) if known else Thread(name)
        for op in self.unsaved:
            if op.thread == name:
                apply(thread, op)
        return thread

    def publish(self, names: set[str]) -> None:
        """Make the current view of `names` what `latest` returns."""
        for name in names:
            self._latest[name] = self.view(name)

    def latest(self, name: str) -> Thread:
        """The last published view of `name` (shared: callers must not change it)."""
        return self._latest.get(name) or Thread(name)

    def merge(self, name: str, delta: Delta | None) -> tuple[str, ...]:
        """Take in what the database holds for `name`; the warnings for rows it skipped."""
        if delta is None:
            return ()
        if not delta.exists:
            self.known.pop(name, None)
            return delta.invalid
        known = self.known.get(name)
        if delta.full or known is None:
            known = self.known[name] = Known(delta.tid, delta.system, delta.rev, delta.epoch)
        known.system, known.rev, known.epoch = delta.system, delta.rev, delta.epoch
        for rowid, exchange in delta.rows:
            if exchange is None:
                known.rows.pop(rowid, None)
            else:
                known.rows[rowid] = exchange
        return delta.invalid

    def blobs(self) -> dict[str, Blob]:
        """The bytes of the images attached by unsaved exchanges, by digest."""
        return {blob.digest: blob for op in self.unsaved for blob in op.blobs}

    def count(self) -> int:
        """How many exchanges this kernel has read, in all threads."""
        return sum(len(known.rows) for known in self.known.values())


def apply(thread: Thread, op: Op) -> None:
    """Apply an unsaved change to this kernel's view of a thread."""
    if op.kind == "record":
        assert op.exchange is not None
        index = index_of(thread.exchanges, op.exchange.cell_id)
        if index is None:
            thread.exchanges.append(op.exchange)
        else:
            thread.exchanges[index] = op.exchange
    elif op.kind == "system":
        thread.system = op.system
    elif op.kind == "undo" and thread.exchanges:
        thread.exchanges.pop()
    elif op.kind == "reset":
        thread.exchanges.clear()
    elif op.kind == "fork":
        assert op.source is not None
        thread.system, thread.exchanges = op.source.system, list(op.source.exchanges)


def index_of(exchanges: list[Exchange], cell_id: str | None) -> int | None:
    """Where the exchange of cell `cell_id` stands (None: no such cell, or no cell id)."""
    if cell_id is None:
        return None
    return next((i for i, ex in enumerate(exchanges) if ex.cell_id == cell_id), None)


def messages(
    thread: Thread,
    user: str,
    limit: int | None,
    cell_id: str | None,
    images: Callable[[Sequence[str]], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """System prompt, past exchanges (before `cell_id`'s, the last `limit`), then `user`;
    `images` rebuilds the image parts an exchange names."""
    history = thread.exchanges
    index = index_of(history, cell_id)
    if index is not None:  # a re-run cell gets the context it first saw
        history = history[:index]
    pairs = [(ex, reply) for ex in history if (reply := reply_content(ex.result))]
    if limit is not None:
        pairs = pairs[-limit:] if limit else []
    sent: list[dict[str, Any]] = []
    if thread.system:
        sent.append({"role": "system", "content": thread.system})
    for ex, reply in pairs:
        answer: dict[str, Any] = {"role": "assistant", "content": reply}
        if ex.result.reasoning_items:  # kept for the APIs that want them back
            answer["reasoning_items"] = list(ex.result.reasoning_items)
        rounds = round_messages(ex.result.tool_rounds)  # tool messages follow their calls
        asked = [{"type": "text", "text": ex.user}, *images(ex.images)] if ex.images else ex.user
        sent += [{"role": "user", "content": asked}, *rounds, answer]
    sent.append({"role": "user", "content": user})
    return sent
