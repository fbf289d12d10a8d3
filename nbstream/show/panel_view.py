"""The chat panel's conversation widgets: the message list and the view of one turn.

One widget per message, so a streaming update re-sends only the reply being written, never
the conversation above it. A `ReplyView`'s update methods run on nbstream's loop thread;
setting widget traits from there is safe in ipywidgets 8 (they become comm messages), while
`with Output():` from a background thread is not, and is never used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from ..engine.result import ChatResult
from ..engine.toolrounds import ToolRound
from ..errors import NbStreamError
from ..store.records import Exchange
from . import panel_html as h
from .live import WAITING_REFRESH
from .rendering import Throttle, status_line

#: Seconds between streaming updates (the engine's tick); the throttle lengthens the gap
#: for long replies, since each update re-sends the message's whole HTML.
UPDATE_INTERVAL = 0.1


class MessageList:
    """The scrolling list of messages; safe to change from any thread."""

    def __init__(self) -> None:
        # Messages share one Layout and one Style: three comms fewer per message.
        self._shared = (widgets.Layout(), HTMLStyle())
        self._lock = threading.Lock()
        self.list = widgets.VBox([], layout=widgets.Layout(flex="0 0 auto"))
        self.list.add_class("nbstream-list")
        # The CSS reverses this box's direction, which keeps it scrolled to the newest message.
        self.widget = widgets.Box([self.list])
        self.widget.add_class("nbstream-messages")

    def message(self, value: str, *classes: str) -> widgets.HTML:
        """A new message widget (not yet shown)."""
        layout, style = self._shared
        return html_widget(value, *classes, layout=layout, style=style)

    def append(self, *rows: widgets.Widget) -> None:
        """Show `rows` after the last message."""
        with self._lock:
            self.list.children = (*self.list.children, *rows)

    def remove(self, *rows: widgets.Widget) -> None:
        """Take `rows` out of the list and close them."""
        with self._lock:
            self.list.children = tuple(c for c in self.list.children if c not in rows)
        self._close(rows)

    def replace(self, rows: list[widgets.Widget]) -> None:
        """Show exactly `rows`, closing the messages shown before."""
        with self._lock:
            old, self.list.children = self.list.children, tuple(rows)
        self._close(old)

    def show_exchanges(
        self, exchanges: Sequence[Exchange], footer_of: Callable[[ChatResult], str]
    ) -> None:
        """Show exactly these past exchanges, each one widget (they never change)."""
        rows = [h.exchange_html(x.user, x.result, footer_of(x.result)) for x in exchanges]
        self.replace([self.message(row, "nbstream-exchange") for row in rows])

    def _close(self, rows: tuple[widgets.Widget, ...]) -> None:
        for row in rows:
            close_tree(row, keep=self._shared)


class ReplyView:
    """The widgets of one turn sent from the panel: the user's message, the reply, its stats,
    and rows of controls under them (`attach`: Retry after an error)."""

    def __init__(
        self,
        messages: MessageList,
        prompt: str,
        *,
        footer_of: Callable[[ChatResult], str],
        on_retry: Callable[[ReplyView], None],
        on_progress: Callable[[ChatResult], None],
    ) -> None:
        self.prompt = prompt
        self.started = False  # the turn's task began running
        self.result: ChatResult | None = None  # the reply as kept in the thread, if any
        self.error: BaseException | None = None
        self._messages, self._footer_of, self._on_retry = messages, footer_of, on_retry
        self._on_progress = on_progress  # the header's live totals
        self.body = messages.message(
            h.reply_html(ChatResult()), "nbstream-message", "nbstream-assistant"
        )
        self.body.add_class("nbstream-streaming")
        self.stats = messages.message(
            h.stats_html(ChatResult(), "waiting · sending…", live=True), "nbstream-stats"
        )
        user = messages.message(h.user_html(prompt), "nbstream-message", "nbstream-user")
        self.rows: tuple[widgets.Widget, ...] = (user, self.body, self.stats)
        self._attached: list[widgets.Widget] = []
        self._throttle = Throttle(max_rate=1.2 / UPDATE_INTERVAL)
        self._t0 = time.monotonic()
        self._stats_at = 0.0
        # The notices and tool calls shown before the first text.
        self._before_text: tuple[tuple[str, ...], tuple[ToolRound, ...]] = ((), ())

    def update(self, snapshot: ChatResult) -> None:
        """Show a streaming snapshot, as often as the throttle allows."""
        now = time.monotonic()
        if snapshot.timings.first_token is None:
            # Before any text: redrawn when a notice or a tool call (running, waiting) changes.
            if (snapshot.notices, snapshot.tool_rounds) != self._before_text:
                self._before_text = (snapshot.notices, snapshot.tool_rounds)
                self.body.value = h.reply_html(snapshot)
            if now - self._stats_at >= WAITING_REFRESH:
                self._stats_at = now
                line = status_line(snapshot, now - self._t0)
                self.stats.value = h.stats_html(snapshot, line, live=True)
                self._on_progress(snapshot)
            return
        value = h.reply_html(snapshot)
        if value == self.body.value or self._throttle.wait(now) > 0:
            return
        self.body.value = value
        self._throttle.sent(now, len(value))
        self.stats.value = h.stats_html(snapshot, status_line(snapshot, now - self._t0), live=True)
        self._on_progress(snapshot)

    def finish(self, result: ChatResult) -> None:
        """The final update: the whole reply and its stats line."""
        self.result = result
        self.body.value = h.reply_html(result)
        self.body.remove_class("nbstream-streaming")
        self.stats.value = h.stats_html(result, self._footer_of(result))

    def stopped(self, kept: ChatResult | None) -> None:
        """Stopped by the user: the partial reply as kept, or a note that nothing was."""
        if kept is not None:
            self.finish(kept)
            return
        self._messages.remove(self.body, self.stats)
        self._show_error(h.error_html("stopped before the first token · nothing kept"))

    def failed(self, err: BaseException, partial: ChatResult | None) -> None:
        """An error: the partial reply if one was kept, then the message, hint and Retry."""
        self.error = err
        if partial is not None:
            self.finish(partial)
        else:
            self._messages.remove(self.body, self.stats)
        if isinstance(err, NbStreamError):
            self._show_error(h.error_html(err.message, err.hint))
        else:
            self._show_error(h.error_html(f"{type(err).__name__}: {err}", "a bug in nbstream"))

    def _show_error(self, value: str) -> None:
        retry = button("Retry", "nbstream-retry", lambda _: self._on_retry(self))
        row = widgets.HBox([html_widget(value, "nbstream-error-text"), retry])
        row.add_class("nbstream-message")
        row.add_class("nbstream-error")
        self.attach(row)

    def attach(self, row: widgets.Widget) -> None:
        """Show a row of controls under this reply (a Retry, a tool call's Approve/Deny)."""
        self._attached.append(row)
        self._messages.append(row)

    def discard(self) -> None:
        """Before a Retry: remove the rows attached, and the whole exchange if none of it
        was kept."""
        attached, self._attached = self._attached, []
        self._messages.remove(*attached, *(self.rows if self.result is None else ()))


def html_widget(value: str, *classes: str, **kwargs: Any) -> widgets.HTML:
    """An HTML widget with CSS classes (the value must come from `_panel_html`)."""
    widget = widgets.HTML(value, **kwargs)
    for name in classes:
        widget.add_class(name)
    return widget


def button(
    label: str, css_class: str, on_click: Callable[[Any], object], style: str = ""
) -> widgets.Button:
    """A button with a CSS class and a click handler."""
    widget = widgets.Button(description=label, button_style=style)
    widget.add_class(css_class)
    widget.on_click(on_click)
    return widget


def close_tree(widget: widgets.Widget, keep: tuple[widgets.Widget, ...] = ()) -> None:
    """Close a widget and everything in it (closing a box leaves its children open)."""
    for child in getattr(widget, "children", ()):
        close_tree(child, keep)
    for part in ("layout", "style"):
        inner = getattr(widget, part, None)
        if isinstance(inner, widgets.Widget) and inner not in keep:
            inner.close()
    widget.close()
