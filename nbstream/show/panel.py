"""The chat panel: an ipywidgets chat that streams on nbstream's loop thread.

`ChatPanel(thread)` shows a thread of the kernel's session and lets the user continue it;
`%%chat -t THREAD` cells and panels on one thread are one conversation, each turn shown in every
panel on the thread as it is recorded. Send returns at once: the turn runs on nbstream's loop
(never the kernel's, which freezes while a cell runs), which updates the widgets about ten times
a second. One turn at a time per thread (FAULTS 22). Clicks are comm messages: between cells, or
at once on a subshell thread where the front end sends comms over subshells — hence the lock.
"""

from __future__ import annotations

import asyncio
import threading
from enum import Enum
from typing import Any

from IPython.core.error import UsageError

from ..engine import loop
from ..engine.result import ChatResult
from ..errors import NbStreamError, StreamError, ThreadBusyError
from ..session import Session, current
from ..store.threads import DEFAULT
from ..tools.mainthread import INBOX
from ..turn import Turn, TurnOptions
from . import panel_html as h
from .panel_layout import PanelWidgets, TranscriptOutput, default_model, fill_models
from .panel_tools import PanelTools, settle_turn
from .panel_view import UPDATE_INTERVAL, ReplyView, close_tree
from .rendering import footer


class PanelState(str, Enum):
    """What the panel is doing."""

    IDLE = "idle"  # ready to send
    STREAMING = "streaming"  # a turn is running on the loop thread; Send is disabled
    CLOSED = "closed"  # closed: its widgets are gone and no turn can start


class ChatPanel:
    """A chat panel on one conversation thread of a session (the kernel's by default);
    `tools`, `approve` and `max_tool_rounds` as for `chat()`."""

    def __init__(
        self,
        thread: str = DEFAULT,
        model: str | None = None,
        system: str | None = None,
        session: Session | None = None,
        params: dict[str, Any] | None = None,
        tools: list[Any] | tuple[Any, ...] = (),
        approve: str | None = None,
        max_tool_rounds: int | None = None,
    ) -> None:
        self.session = session or current()
        INBOX.capture()  # the kernel's main-thread loop, where the turns' tool calls run
        self.tools = PanelTools(tuple(tools), approve, max_tool_rounds)
        self.thread = thread
        self.params: dict[str, Any] = dict(params or {})  # extra request parameters
        self.state = PanelState.IDLE
        self.last: ChatResult | None = None  # the latest turn's reply, partial or complete
        self.error: BaseException | None = None  # why the latest turn failed, if it did
        self.results: list[ChatResult] = []  # replies kept by this panel, for its totals
        self._lock = threading.RLock()
        self._job: loop.Job[Any] | None = None
        self._view: ReplyView | None = None
        self._transcript = TranscriptOutput()
        self._build(model)
        self._load_history(system)
        self._unwatch = self.session.watch(self._turn_recorded)
        loop.submit(fill_models(self._parts.model, self.session, self.thread))

    # ---- public API

    def send(self, text: str | None = None) -> None:
        """Send `text` (default: what is in the message box); returns while the reply streams."""
        prompt = (self._parts.input.value if text is None else text).strip()
        if not prompt:
            raise UsageError("empty message: nothing to send")
        with self._lock:
            if self.state is PanelState.CLOSED:
                raise UsageError("this chat panel is closed; open a new one")
            if self.state is PanelState.STREAMING:
                raise ThreadBusyError(
                    f"this panel is already streaming a reply on thread {self.thread!r}",
                    hint="wait for it (panel.wait()) or press Stop",
                )
            if text is None:
                self._parts.input.value = ""
            self._start(prompt)

    def stop(self) -> bool:
        """Stop the streaming reply, keeping what arrived as interrupted; True once it ended."""
        with self._lock:
            job, view = self._job, self._view
        if job is None or job.future.done():
            return True
        ended = job.cancel()
        if not ended and view is not None and not view.started:
            self._settle(view)  # cancelled before its task ran: nothing else will reset it
            return True
        return ended

    def wait(self, timeout: float | None = None) -> ChatResult | None:
        """Block until the current turn ends and return its reply, partial or complete.

        None when it produced no reply (see `.error`); TimeoutError after `timeout` seconds.
        Interrupting the kernel while it waits stops the reply.
        """
        job = self._job
        if job is None:
            return self.last
        try:
            settle_turn(job, timeout)
        except KeyboardInterrupt:
            self.stop()
            raise
        # A no-op on a finished task; after a Stop, the future is done before the task
        # has wound down (recorded the partial reply), so this waits for that.
        job.cancel()
        return self.last

    def new_chat(self) -> None:
        """Forget the thread's exchanges (its system prompt stays) and clear the panel."""
        self._require_idle("start a new chat")
        self.session.store.reset(self.thread)
        self._load_history(None)
        self._update_transcript()

    def refresh(self) -> None:
        """Show the thread as the store has it now (after `%%chat` cells on the same thread)."""
        self._require_idle("refresh")
        self._load_history(None)
        self._update_transcript()

    def close(self) -> None:
        """Stop any streaming reply and close the panel's widgets."""
        with self._lock:
            if self.state is PanelState.CLOSED:
                return
            self.state = PanelState.CLOSED
        self._unwatch()
        self._parts.unwatch()
        self.stop()
        close_tree(self.widget)

    # ---- display

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.state is not PanelState.CLOSED:
            view = self.widget._repr_mimebundle_()  # the widget view, and a repr of all its HTML
            view["text/plain"] = f"nbstream chat panel on thread {self.thread!r}"
            display(view, raw=True)
        self._transcript.show(self._transcript_bundle())

    def _transcript_bundle(self) -> dict[str, str]:
        # Called on the loop thread after a turn: the store's in-memory view, no disk read.
        return h.transcript_bundle(self.session.store.latest(self.thread))

    def _update_transcript(self) -> None:
        self._transcript.update(self._transcript_bundle)

    # ---- building

    def _build(self, model: str | None) -> None:
        parts = PanelWidgets(
            model=model or "",
            model_placeholder=default_model(self.session, self.thread),
            on_send=self._send_from_box,
            on_stop=self.stop,
            on_new=self._new_from_button,
        )
        self._parts = parts
        self.widget = parts.widget
        self.widget.observe(self._widget_closed, "comm")
        if self.widget.comm is not None:
            self.widget.comm.on_close(lambda _: self.close())

    def _load_history(self, system: str | None) -> None:
        thread = self.session.store.thread(self.thread)
        self._parts.messages.show_exchanges(thread.exchanges, self._footer)
        with self._lock:
            self._parts.system_prompt.show(thread.system, system)
            self._update_header()

    def _update_header(self, live: ChatResult | None = None) -> None:
        streaming = self.state is PanelState.STREAMING
        totals = h.totals_line(self.results, streaming=streaming, live=live)
        self._parts.heading.value = h.header_html(self.thread, totals)

    def _progress(self, snapshot: ChatResult) -> None:
        with self._lock:
            if self.state is PanelState.STREAMING:
                self._update_header(snapshot)

    def _footer(self, result: ChatResult) -> str:
        return footer(result, cost=self.session.cost(result))

    # ---- one turn

    def _options(self, view: ReplyView) -> TurnOptions:
        return TurnOptions(
            thread=self.thread,
            model=self._parts.model.value.strip() or None,
            system=self._parts.system_prompt.for_turn(),
            params={**self.params, **self._parts.chosen_params()},
            **self.tools.options(view),
        )

    def _start(self, prompt: str) -> None:
        """Show the user's message and start the turn; called with the lock held."""
        view = ReplyView(
            self._parts.messages,
            prompt,
            footer_of=self._footer,
            on_retry=self._retry,
            on_progress=self._progress,
        )
        options = self._options(view)
        self._parts.messages.append(*view.rows)
        self.state, self._view, self.last, self.error = PanelState.STREAMING, view, None, None
        self._parts.set_streaming(True)
        self._update_header()
        self._job = loop.submit(self._run(prompt, options, view))

    async def _run(self, prompt: str, options: TurnOptions, view: ReplyView) -> None:
        view.started = True
        turns: list[Turn] = []
        try:
            result = await self.session.achat(
                prompt, options, on_update=view.update, interval=UPDATE_INTERVAL,
                on_start=turns.append,
            )  # fmt: skip
        except asyncio.CancelledError:
            view.stopped(turns[0].kept if turns else None)
            raise
        except Exception as err:
            view.failed(err, err.result if isinstance(err, StreamError) else None)
            if not isinstance(err, NbStreamError):
                raise  # a bug: shown, and kept in .error, not lost in the loop
        else:
            view.finish(result)
        finally:
            self._settle(view)

    def _settle(self, view: ReplyView) -> None:
        """End of a turn, however it ended: record its outcome and make the panel usable."""
        with self._lock:
            if self._view is not view:
                return
            self._view = None
            self.last, self.error = view.result, view.error
            if view.result is not None:
                self.results.append(view.result)
                self._parts.system_prompt.kept()
            if self.state is PanelState.STREAMING:
                self.state = PanelState.IDLE
                self._parts.set_streaming(False)
            self._update_header()
        self._update_transcript()

    def _require_idle(self, action: str) -> None:
        if self.state is PanelState.STREAMING:
            raise ThreadBusyError(
                f"cannot {action} while a reply is streaming", hint="wait or press Stop first"
            )

    # ---- widget callbacks (kernel main thread, or a subshell thread)

    def _send_from_box(self, text: str) -> None:
        if self.state is PanelState.IDLE and text.strip():
            self.send(text)

    def _new_from_button(self) -> None:
        if self.state is PanelState.IDLE:
            self.new_chat()

    def _turn_recorded(self, thread: str) -> None:
        # A turn recorded while this panel streams is its own (the store runs one turn at a
        # time on a thread); any other (a cell, another panel) shows the thread again.
        with self._lock:  # not while a Send (on a subshell thread) starts a turn
            if thread != self.thread or self.state is not PanelState.IDLE:
                return
            self._load_history(None)
        self._update_transcript()

    def _retry(self, view: ReplyView) -> None:
        if self.state is not PanelState.IDLE:
            return
        view.discard()
        self.send(view.prompt)

    def _widget_closed(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            self.close()
