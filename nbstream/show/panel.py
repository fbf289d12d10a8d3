"""The chat panel: an ipywidgets chat that streams on nbstream's loop thread.

`ChatPanel(thread)` shows a conversation thread of the kernel's session and lets the user
continue it; `%%chat -t THREAD` cells and panels on the same thread are one conversation.
Send returns at once: the turn runs on nbstream's own event loop (never the kernel's, which
freezes while any cell runs), and the loop thread updates the widgets about ten times a
second. One turn at a time per panel (Send is disabled while a reply streams), and the
store refuses a second turn on a thread that is streaming anywhere else (FAULTS 22).

Widget state is not saved with a notebook, so a displayed panel also keeps a plain
transcript output (Markdown and text) that is updated whenever a turn ends.

Clicks and Enter reach the kernel as comm messages, handled between cells: while a cell
runs they wait for it, unless the frontend sends comm messages over kernel subshells
(JupyterLab's `commsOverSubshells` setting, with ipykernel 7), where they are handled at once
on a subshell thread; the panel's state is guarded by a lock for that case.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from enum import Enum
from typing import Any

import ipywidgets as widgets
from IPython.core.error import UsageError

from ..engine import loop
from ..engine.clients import list_models
from ..engine.result import ChatResult
from ..errors import NbStreamError, StreamError, ThreadBusyError
from ..session import Session, Turn, TurnOptions, current
from ..store.threads import DEFAULT
from . import panel_html as h
from .panel_input import ChatInput
from .panel_view import UPDATE_INTERVAL, MessageList, ReplyView, button, close_tree, html_widget
from .rendering import footer

DEFAULT_TEMPERATURE = 1.0


class PanelState(str, Enum):
    """What the panel is doing."""

    IDLE = "idle"  # ready to send
    STREAMING = "streaming"  # a turn is running on the loop thread; Send is disabled
    CLOSED = "closed"  # closed: its widgets are gone and no turn can start


class ChatPanel:
    """A chat panel on one conversation thread of a session (the kernel's by default)."""

    def __init__(
        self,
        thread: str = DEFAULT,
        model: str | None = None,
        system: str | None = None,
        session: Session | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.session = session or current()
        self.thread = thread
        self.params: dict[str, Any] = dict(params or {})  # extra request parameters
        self.state = PanelState.IDLE
        self.last: ChatResult | None = None  # the latest turn's reply, partial or complete
        self.error: BaseException | None = None  # why the latest turn failed, if it did
        self.results: list[ChatResult] = []  # replies kept by this panel, for its totals
        self._lock = threading.RLock()
        self._job: loop.Job[Any] | None = None
        self._view: ReplyView | None = None
        self._transcript_id: str | None = None
        self._system_seen = ""  # the thread's system prompt as last shown
        self._system_sent: str | None = None  # the system prompt the running turn sets
        self._temperature_set = False
        self._build(model)
        self._load_history(system)
        self._fetch_models()

    # ---- public API

    def send(self, text: str | None = None) -> None:
        """Send `text` (default: what is in the message box); returns while the reply streams."""
        from_box = text is None
        prompt = (self._input.value if text is None else text).strip()
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
            if from_box:
                self._input.value = ""
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
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not job.future.done():
                left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
                if left <= 0:
                    raise TimeoutError(f"the reply is still streaming after {timeout:g} s")
                concurrent.futures.wait([job.future], timeout=left)
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
        self.stop()
        close_tree(self.widget)

    # ---- display

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self._transcript_id = self._transcript_id or uuid.uuid4().hex
        if self.state is not PanelState.CLOSED:
            view = self.widget._repr_mimebundle_()  # the widget view, and a repr of all its HTML
            view["text/plain"] = f"nbstream chat panel on thread {self.thread!r}"
            display(view, raw=True)
        display(self._transcript(), raw=True, display_id=self._transcript_id)

    def _transcript(self) -> dict[str, str]:
        return h.transcript_bundle(self.session.store.thread(self.thread))

    def _update_transcript(self) -> None:
        if self._transcript_id is None:
            return
        from IPython.display import update_display

        update_display(self._transcript(), raw=True, display_id=self._transcript_id)

    # ---- building

    def _build(self, model: str | None) -> None:
        self._header = html_widget("", "nbstream-header")
        self._messages = MessageList()
        self._input = ChatInput(placeholder="Message (Enter sends, Shift+Enter: new line)")
        self._input.add_class("nbstream-input")
        self._input.on_submit(lambda _: self._send_from_box())
        self._send = button("Send", "nbstream-send", lambda _: self._send_from_box(), "primary")
        self._stop = button("Stop", "nbstream-stop", lambda _: self.stop())
        self._new = button("New chat", "nbstream-new", lambda _: self._new_from_button())
        self._stop.disabled = True
        self._model = widgets.Combobox(
            value=model or "",
            placeholder=self._default_model(),
            options=[],
            ensure_option=False,
            description="Model",
        )
        self._model.add_class("nbstream-model")
        self._system = widgets.Textarea(placeholder="System prompt (optional)", rows=3)
        self._system.add_class("nbstream-system")
        self._temperature = widgets.FloatSlider(
            value=DEFAULT_TEMPERATURE, min=0.0, max=2.0, step=0.1, description="Temperature"
        )
        self._temperature.add_class("nbstream-temperature")
        self._temperature.observe(self._temperature_moved, "value")
        options = widgets.Accordion(
            [widgets.VBox([self._system, self._temperature])],
            titles=("System prompt & temperature",),
        )
        controls = widgets.HBox([self._send, self._stop, self._new, self._model])
        controls.add_class("nbstream-controls")
        css = widgets.HTML(h.PANEL_CSS, layout=widgets.Layout(display="none"))
        parts = [css, self._header, self._messages.widget, self._input, controls, options]
        self.widget = widgets.VBox(parts)
        self.widget.add_class("nbstream-panel")
        self.widget.observe(self._widget_closed, "comm")
        if self.widget.comm is not None:
            self.widget.comm.on_close(lambda _: self.close())

    def _default_model(self) -> str:
        try:
            return self.session.settings(TurnOptions(thread=self.thread)).model
        except NbStreamError:
            return "model"

    def _fetch_models(self) -> None:
        try:
            settings = self.session.settings(TurnOptions(thread=self.thread))
        except NbStreamError:
            return
        if settings.offline:  # the demo server would start here and lose its notice
            return

        async def fetch() -> None:
            models = await list_models(settings)
            if models and self.state is not PanelState.CLOSED:
                self._model.options = tuple(models)

        loop.submit(fetch())

    def _load_history(self, system: str | None) -> None:
        thread = self.session.store.thread(self.thread)
        self._messages.replace(
            [
                self._messages.message(
                    h.exchange_html(ex.user, ex.result, self._footer(ex.result)),
                    "nbstream-exchange",
                )
                for ex in thread.exchanges
            ]
        )
        with self._lock:
            self._system_seen = thread.system or ""
            self._system.value = self._system_seen if system is None else system
            self._update_header()

    def _update_header(self) -> None:
        self._header.value = h.header_html(self.thread, h.totals_line(self.results))

    def _footer(self, result: ChatResult) -> str:
        return footer(result, cost=self.session.cost(result))

    # ---- one turn

    def _options(self) -> TurnOptions:
        system = self._system.value
        params = dict(self.params)
        if self._temperature_set:
            params["temperature"] = self._temperature.value
        return TurnOptions(
            thread=self.thread,
            model=self._model.value.strip() or None,
            system=system if system != self._system_seen else None,
            params=params,
        )

    def _start(self, prompt: str) -> None:
        """Show the user's message and start the turn; called with the lock held."""
        options = self._options()
        view = ReplyView(self._messages, prompt, footer_of=self._footer, on_retry=self._retry)
        self._messages.append(*view.rows)
        self.state, self._view, self.last, self.error = PanelState.STREAMING, view, None, None
        self._system_sent = options.system
        self._set_buttons(streaming=True)
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
        except StreamError as err:
            view.failed(err, err.result)
        except NbStreamError as err:
            view.failed(err, None)
        except Exception as err:
            view.failed(err, None)  # a bug: shown, and kept in .error, not lost in the loop
            raise
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
                if self._system_sent is not None:  # the turn was kept, so was its system prompt
                    self._system_seen = self._system_sent
            if self.state is PanelState.STREAMING:
                self.state = PanelState.IDLE
                self._set_buttons(streaming=False)
            self._update_header()
        self._update_transcript()

    def _set_buttons(self, *, streaming: bool) -> None:
        self._send.disabled = self._new.disabled = self._input.busy = streaming
        self._stop.disabled = not streaming

    def _require_idle(self, action: str) -> None:
        if self.state is PanelState.STREAMING:
            raise ThreadBusyError(
                f"cannot {action} while a reply is streaming", hint="wait or press Stop first"
            )

    # ---- widget callbacks (kernel main thread, or a subshell thread)

    def _send_from_box(self) -> None:
        if self.state is PanelState.IDLE and self._input.value.strip():
            self.send()

    def _new_from_button(self) -> None:
        if self.state is PanelState.IDLE:
            self.new_chat()

    def _retry(self, view: ReplyView) -> None:
        if self.state is not PanelState.IDLE:
            return
        view.discard()
        self.send(view.prompt)

    def _temperature_moved(self, change: dict[str, Any]) -> None:
        self._temperature_set = True

    def _widget_closed(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            self.close()


def show_panel(thread: str, session: Session) -> ChatPanel:
    """Display a chat panel on `thread` of `session` and return it (`%chat panel`)."""
    from IPython.display import display

    panel = ChatPanel(thread, session=session)
    display(panel)
    return panel
