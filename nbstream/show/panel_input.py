"""The chat panel's input row: a message box with one inline button, Send or Stop.

ipywidgets' Textarea cannot tell Enter from Shift+Enter, so the row is an anywidget with a few
lines of inline JavaScript. Keys pressed in it must not reach JupyterLab's notebook shortcuts
(Shift+Enter would run the cell, single letters are commands). Clicks and Enter reach the
kernel as comm messages, which wait for a running cell unless the front end sends comms over
kernel subshells; the kernel acknowledges each one, and a message left unacknowledged while a
cell runs makes the row say why nothing happens yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

SEND, STOP = "Send", "Stop"

_ESM = """
const WAIT_MS = 400;  // an acknowledgement slower than this is the kernel not reading comms
function render({ model, el }) {
  const row = document.createElement("div");
  row.className = "nbstream-input-row";
  const area = document.createElement("textarea");
  area.rows = 2;
  area.placeholder = model.get("placeholder");
  area.value = model.get("value");
  area.setAttribute("data-lm-suppress-shortcuts", "true");
  area.setAttribute("aria-label", "Message");
  const action = document.createElement("button");
  action.type = "button";
  action.className = "nbstream-action";
  const notice = document.createElement("div");
  notice.className = "nbstream-busy";
  notice.setAttribute("role", "status");
  let pending = null, serial = 0, timer = null;
  const showNotice = () => {
    const text = pending === null ? "" : model.get("cell_running")
      ? (pending.event === "stop"
        ? "The kernel is busy running a cell: Stop reaches it when the cell finishes."
        : "The kernel is busy running a cell: your message will be sent when it finishes.")
      : "Waiting for the kernel…";
    notice.textContent = text;
    notice.hidden = !text;
  };
  const tell = (content) => {
    pending = { ...content, id: ++serial };
    model.send(pending);
    clearTimeout(timer);
    timer = setTimeout(showNotice, WAIT_MS);
  };
  const sync = () => { model.set("value", area.value); model.save_changes(); };
  const submit = () => {
    // One message at a time: a second one sent before the kernel took the first would find
    // the panel streaming and be dropped.
    if (model.get("action") !== "Send" || pending?.event === "submit" || !area.value.trim()) {
      return;
    }
    // The text travels with the submit, and the box is cleared here: while a cell runs,
    // ipywidgets holds value updates back (keeping only the latest), not custom messages.
    tell({ event: "submit", value: area.value });
    area.value = "";
    sync();
  };
  const paint = () => {
    const label = model.get("action");
    action.textContent = label;
    action.setAttribute("aria-label", label === "Stop" ? "Stop the reply" : "Send the message");
    action.classList.toggle("nbstream-stopping", label === "Stop");
  };
  action.addEventListener("click", () => {
    if (model.get("action") === "Stop") tell({ event: "stop" }); else submit();
  });
  area.addEventListener("input", sync);
  area.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      // Shortcuts are suppressed in here (copy, paste, undo stay the box's); save is not.
      event.preventDefault();
      el.parentElement?.dispatchEvent(new KeyboardEvent("keydown", event));
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  area.addEventListener("keypress", (event) => event.stopPropagation());
  model.on("msg:custom", (msg) => {
    if (msg.event === "received" && pending && msg.id === pending.id) {
      pending = null;
      clearTimeout(timer);
      showNotice();
    }
  });
  model.on("change:value", () => {
    if (area.value !== model.get("value")) area.value = model.get("value");
  });
  model.on("change:action", paint);
  model.on("change:cell_running", showNotice);
  paint();
  showNotice();
  row.append(area, action);
  el.append(row, notice);
  return () => clearTimeout(timer);
}
export default { render };
"""


class ChatInput(anywidget.AnyWidget):
    """A multi-line text box with one button: Send while idle, Stop while a reply streams."""

    _esm = _ESM
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    action = traitlets.Enum((SEND, STOP), SEND, help="The button's label and what it does.").tag(
        sync=True
    )
    cell_running = traitlets.Bool(
        False, help="The kernel is running a cell (so comms may wait for it)."
    ).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_send: list[Callable[[str], None]] = []
        self._on_stop: list[Callable[[], object]] = []
        self.on_msg(self._on_message)

    def on_send(self, callback: Callable[[str], None]) -> None:
        """Call `callback(text)` when the user sends a message (Enter without Shift, or Send)."""
        self._on_send.append(callback)

    def on_stop(self, callback: Callable[[], object]) -> None:
        """Call `callback()` when the user presses Stop."""
        self._on_stop.append(callback)

    def press(self) -> None:
        """Act as if the user clicked the button: send the box (emptying it) while idle, stop
        while streaming."""
        if self.action == STOP:
            for stop in self._on_stop:
                stop()
        else:
            text, self.value = self.value, ""
            self._sent(text)

    def submit(self) -> None:
        """Act as if the user pressed Enter (which never stops a reply)."""
        if self.action == SEND:
            self.press()

    def _sent(self, text: str) -> None:
        for send in self._on_send:
            send(text)

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        self.send({"event": "received", "id": content.get("id")})
        text = content.get("value")
        if content.get("event") == "submit" and self.action == SEND and isinstance(text, str):
            # The browser emptied its box as it sent, and the user may have typed on since:
            # the text comes with the message, and the box is left as it is.
            self._sent(text)
        elif content.get("event") == "stop" and self.action == STOP:
            self.press()


def watch_cells(box: ChatInput) -> Callable[[], None]:
    """Keep `box.cell_running` true while the kernel runs a cell; returns the unwatch.

    Nothing to watch outside IPython (a script): the box then never says the kernel is busy.
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return lambda: None

    def started(*_: object) -> None:
        box.cell_running = True

    def ended(*_: object) -> None:
        box.cell_running = False

    shell.events.register("pre_run_cell", started)
    shell.events.register("post_run_cell", ended)

    def unwatch() -> None:
        shell.events.unregister("pre_run_cell", started)
        shell.events.unregister("post_run_cell", ended)

    return unwatch
