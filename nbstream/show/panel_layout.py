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
from .panel_input import ChatInput
from .panel_view import MessageList, button, html_widget

DEFAULT_TEMPERATURE = 1.0


class PanelWidgets:
    """Header, messages, input, buttons, model picker, system prompt and temperature."""

    def __init__(
        self,
        *,
        model: str,
        model_placeholder: str,
        on_send: Callable[[], None],
        on_stop: Callable[[], object],
        on_new: Callable[[], None],
    ) -> None:
        self.header = html_widget("", "nbstream-header")
        self.messages = MessageList()
        self.input = ChatInput(placeholder="Message (Enter sends, Shift+Enter: new line)")
        self.input.add_class("nbstream-input")
        self.input.on_submit(lambda _: on_send())
        self.send = button("Send", "nbstream-send", lambda _: on_send(), "primary")
        self.stop = button("Stop", "nbstream-stop", lambda _: on_stop())
        self.new = button("New chat", "nbstream-new", lambda _: on_new())
        self.stop.disabled = True
        self.model = widgets.Combobox(
            value=model,
            placeholder=model_placeholder,
            options=[],
            ensure_option=False,
            description="Model",
        )
        self.model.add_class("nbstream-model")
        self.system = widgets.Textarea(placeholder="System prompt (optional)", rows=3)
        self.system.add_class("nbstream-system")
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
        self.widget = self._layout()

    def chosen_params(self) -> dict[str, Any]:
        """Request parameters the user chose in the panel (the temperature, once moved)."""
        return {"temperature": self.temperature.value} if self._temperature_set else {}

    def _temperature_moved(self, change: dict[str, Any]) -> None:
        self._temperature_set = True

    def set_streaming(self, streaming: bool) -> None:
        """Send, New chat and the input wait while a reply streams; Stop works only then."""
        self.send.disabled = self.new.disabled = self.input.busy = streaming
        self.stop.disabled = not streaming

    def _layout(self) -> widgets.VBox:
        options = widgets.Accordion(
            [widgets.VBox([self.system, self.temperature])],
            titles=("System prompt & temperature",),
        )
        controls = widgets.HBox([self.send, self.stop, self.new, self.model])
        controls.add_class("nbstream-controls")
        css = widgets.HTML(h.PANEL_CSS, layout=widgets.Layout(display="none"))
        parts: list[Any] = [css, self.header, self.messages.widget, self.input, controls, options]
        panel = widgets.VBox(parts)
        panel.add_class("nbstream-panel")
        return panel


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
