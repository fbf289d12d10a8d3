"""The chat panel's message box: Enter sends, Shift+Enter starts a new line.

ipywidgets' Textarea cannot tell Enter from Shift+Enter, so this one widget is an anywidget
with a few lines of inline JavaScript. Keys pressed in it must not reach JupyterLab's
notebook shortcuts (Shift+Enter would run the cell, single letters are commands).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  const area = document.createElement("textarea");
  area.rows = 3;
  area.placeholder = model.get("placeholder");
  area.value = model.get("value");
  area.setAttribute("data-lm-suppress-shortcuts", "true");
  area.setAttribute("aria-label", "Message");
  const sync = () => { model.set("value", area.value); model.save_changes(); };
  area.addEventListener("input", sync);
  area.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      // Shortcuts are suppressed in here (copy, paste, undo stay the box's); save is not.
      event.preventDefault();
      el.parentElement?.dispatchEvent(new KeyboardEvent("keydown", event));
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (model.get("busy") || !area.value.trim()) return;
      // The text travels with the submit, and the box is cleared here: while a cell runs,
      // ipywidgets holds value updates back (keeping only the latest), not custom messages.
      model.send({ event: "submit", value: area.value });
      area.value = "";
      sync();
    }
  });
  area.addEventListener("keypress", (event) => event.stopPropagation());
  model.on("change:value", () => {
    if (area.value !== model.get("value")) area.value = model.get("value");
  });
  el.appendChild(area);
}
export default { render };
"""


class ChatInput(anywidget.AnyWidget):
    """A multi-line text box whose Enter key submits; `on_submit(callback)` is told of it."""

    _esm = _ESM
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False, help="While True, Enter sends nothing.").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Callable[[ChatInput], None]] = []
        self.on_msg(self._on_message)

    def on_submit(self, callback: Callable[[ChatInput], None]) -> None:
        """Call `callback(self)` when the user presses Enter (without Shift)."""
        self._callbacks.append(callback)

    def submit(self) -> None:
        """Act as if the user pressed Enter."""
        for callback in self._callbacks:
            callback(self)

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            if isinstance(content.get("value"), str):
                self.value = content["value"]
            self.submit()
