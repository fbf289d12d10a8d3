"""Copy buttons on the code blocks of the chat panel, added in the browser.

The messages' HTML comes only from the safe renderer (`panel_html`); this invisible anywidget
adds a button to each `<pre>` in its panel after that HTML is in the page, and again after a
streaming update replaces it. The button is built with `createElement` (no HTML is parsed) and
copies the code's text; nothing in a message is run. Where the clipboard is refused (an
unfocused or headless page), the page still learns the text from a `nbstream-copy` event on the
block, which says whether the clipboard took it.
"""

from __future__ import annotations

import anywidget

_ESM = """
function render({ el }) {
  let observer = null, timer = null;
  const copy = async (pre, button) => {
    const text = (pre.querySelector("code") || pre).textContent;
    let copied = true;
    try { await navigator.clipboard.writeText(text); } catch (e) { copied = false; }
    const detail = { text, copied };
    pre.dispatchEvent(new CustomEvent("nbstream-copy", { bubbles: true, detail }));
    button.dataset.state = copied ? "copied" : "failed";
    setTimeout(() => { delete button.dataset.state; }, 1500);
  };
  const decorate = (panel) => {
    for (const pre of panel.querySelectorAll(".nbstream-list pre")) {
      if (pre.querySelector(":scope > .nbstream-copy")) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "nbstream-copy";
      button.title = "Copy code";
      button.setAttribute("aria-label", "Copy code");
      button.addEventListener("click", (event) => { event.stopPropagation(); copy(pre, button); });
      pre.appendChild(button);
    }
  };
  // The view is put into the page after render returns: wait until it is there.
  const attach = () => {
    const panel = el.closest(".nbstream-panel");
    if (!panel) { timer = setTimeout(attach, 50); return; }
    decorate(panel);
    observer = new MutationObserver(() => decorate(panel));
    observer.observe(panel, { childList: true, subtree: true });
  };
  attach();
  return () => { clearTimeout(timer); observer?.disconnect(); };
}
export default { render };
"""


class CodeCopy(anywidget.AnyWidget):
    """Adds a copy button to every code block shown in the panel it is placed in."""

    _esm = _ESM
