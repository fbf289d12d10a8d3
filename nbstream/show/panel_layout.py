"""The chat panel's widgets and their layout; the panel itself holds the logic."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..errors import NbStreamError
from ..session import Session
from ..turn import TurnOptions
from . import panel_html as h
from .panel_copy import CodeCopy
from .panel_input import SEND, STOP, ChatInput, watch_cells
from .panel_view import MessageList, button, html_widget

DEFAULT_TEMPERATURE = 1.0


class PanelWidgets:
    """The header (title, totals, model picker, New chat), the message column, the input row
    with its one Send/Stop button, and the options (system prompt, temperature)."""

    def __init__(
        self,
        *,
        model: str,
        model_placeholder: str,
        on_send: Callable[[str], None],
        on_stop: Callable[[], object],
        on_new: Callable[[], None],
    ) -> None:
        self.heading = html_widget("", "nbstream-heading")
        self.messages = MessageList()
        self.input = ChatInput(placeholder="Message (Enter sends, Shift+Enter: new line)")
        self.input.add_class("nbstream-input")
        self.input.on_send(on_send)
        self.input.on_stop(on_stop)
        self.new = button("New chat", "nbstream-new", lambda _: on_new())
        self.new.tooltip = "Forget this thread's messages (its system prompt stays)"
        self.model = widgets.Combobox(
            value=model, placeholder=model_placeholder, options=[], ensure_option=False
        )
        self.model.add_class("nbstream-model")
        self.model.tooltip = "Model"
        self.system = widgets.Textarea(placeholder="System prompt (optional)", rows=3)
        self.system.add_class("nbstream-system")
        self.system_prompt = SystemPrompt(self.system)
        self.temperature = widgets.FloatSlider(
            value=DEFAULT_TEMPERATURE,
            min=0.0,
            max=2.0,
            step=0.1,
            description="Temperature",
            style={"description_width": "initial"},  # the default width cuts the label short
        )
        self.temperature.add_class("nbstream-temperature")
        self._temperature_set = False  # until the user moves it, the server's default applies
        self.temperature.observe(self._temperature_moved, "value")
        self.unwatch = watch_cells(self.input)
        self.widget = self._layout()

    def chosen_params(self) -> dict[str, Any]:
        """Request parameters the user chose in the panel (the temperature, once moved)."""
        return {"temperature": self.temperature.value} if self._temperature_set else {}

    def _temperature_moved(self, change: dict[str, Any]) -> None:
        self._temperature_set = True

    def set_streaming(self, streaming: bool) -> None:
        """The input's button stops while a reply streams and sends otherwise; New chat waits."""
        self.input.action = STOP if streaming else SEND
        self.new.disabled = streaming

    def _layout(self) -> widgets.VBox:
        options = widgets.Accordion(
            [widgets.VBox([self.system, self.temperature])],
            titles=("System prompt & temperature",),
        )
        options.add_class("nbstream-options")
        header = widgets.HBox([self.heading, self.model, self.new])
        header.add_class("nbstream-header")
        css = widgets.HTML(h.PANEL_CSS, layout=widgets.Layout(display="none"))
        copier = CodeCopy(layout=widgets.Layout(display="none"))
        parts = [css, copier, header, self.messages.widget, self.input, options]
        panel = widgets.VBox(parts)
        panel.add_class("nbstream-panel")
        return panel


class SystemPrompt:
    """The system prompt box against the thread's: what a turn sets, and a draft kept."""

    def __init__(self, box: widgets.Textarea) -> None:
        self.box = box
        self._seen = ""  # the thread's system prompt as last shown
        self._sending: str | None = None  # the system prompt the running turn sets

    def show(self, thread_system: str | None, given: str | None = None) -> None:
        """Show the thread's system prompt (or `given`); a draft the user typed stays."""
        edited = self.box.value != self._seen
        self._seen = thread_system or ""
        if given is not None or not edited:
            self.box.value = self._seen if given is None else given

    def for_turn(self) -> str | None:
        """What a turn starting now sets: the box's text if it differs from the thread's."""
        value = self.box.value
        self._sending = value if value != self._seen else None
        return self._sending

    def kept(self) -> None:
        """The turn was kept, and with it the system prompt it set."""
        if self._sending is not None:
            self._seen, self._sending = self._sending, None


class TranscriptOutput:
    """The panel's plain transcript, an output the saved notebook keeps (widget state is not)."""

    def __init__(self) -> None:
        self._display_id: str | None = None

    def show(self, bundle: dict[str, str]) -> None:
        """Display the transcript (again, under the same id, when the panel is shown again)."""
        from IPython.display import display

        self._display_id = self._display_id or uuid.uuid4().hex
        display(bundle, raw=True, display_id=self._display_id)

    def update(self, bundle: Callable[[], dict[str, str]]) -> None:
        """Redraw every displayed copy; `bundle` is only built when one is shown."""
        if self._display_id is None:
            return
        from IPython.display import update_display

        update_display(bundle(), raw=True, display_id=self._display_id)


def default_model(session: Session, thread: str) -> str:
    """The model a turn on `thread` would use, for the picker's placeholder."""
    try:
        return session.settings(TurnOptions(thread=thread)).model
    except NbStreamError:
        return "model"


async def fill_models(picker: widgets.Combobox, session: Session, thread: str) -> None:
    """Offer the server's models in the picker (runs on the loop; nothing when it has none)."""
    try:
        models = await session.models(TurnOptions(thread=thread))
    except NbStreamError:
        return
    if models:
        picker.options = tuple(models)
