"""The chat panel as a chat app, in JupyterLab 4 and Notebook 7 (issue 14), in a real browser.

The input row holds one button, Send while idle and Stop while a reply streams; the header
holds the model picker and New chat; code blocks get a copy button; a `%%chat` cell on the
panel's thread shows in the panel on its own; replies show rendered Markdown, no markers.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from nbstream.offline.server import OfflineServer

from .conftest import JupyterServer, Notebook, flat
from .test_panel import _READ_PANEL, Panel, panel_cell, stats_footer

pytestmark = pytest.mark.e2e
UIS = ["lab", "notebook"]  # JupyterLab 4, Notebook 7

CODE = 'print("hello")\nfor i in range(3):\n    print(i)'
MARKDOWN = (
    "# Plan\n\nA **bold** word, an *emphasis* and `code`.\n\n> A quoted line.\n\n"
    f"- one\n- two\n\n```python\n{CODE}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
)
#: Markdown that shows as typed when it is not rendered.
MARKERS = ("**", "# Plan", "> A quoted", "- one", "```", "|---|")

# The parts of the panel the user acts on: the input row's buttons, the header's controls.
_CONTROLS = """(panel) => ({
  input: [...panel.querySelectorAll('.nbstream-input button')].map((b) => b.innerText.trim()),
  header: {
    model: panel.querySelectorAll('.nbstream-header .nbstream-model input').length,
    buttons: [...panel.querySelectorAll('.nbstream-header button')]
      .map((b) => b.innerText.trim()),
  },
  elsewhere: [...panel.querySelectorAll('button')].filter((b) =>
    !b.closest('.nbstream-input, .nbstream-header, .nbstream-options, pre')).length,
})"""


# The controls and the header, read in the same page call that sees the reply still streaming
# (at least `least` tokens in): a reply that ends between two reads cannot fail the test.
_CONTROLS_WHILE_STREAMING = """([panel, read, controls, least]) => {
  const s = eval(read)(panel);
  const m = /^(\\d+) tokens/.exec(s.stats || '');
  const streaming = s.badges[0] === 'streaming' && m && +m[1] >= least;
  return streaming && {controls: eval(controls)(panel), header: s.header};
}"""


def open_panel(page: Any, jupyter: JupyterServer, name: str, ui: str, *cells: str) -> Panel:
    jupyter.write_notebook(name, *cells)
    nb = Notebook(page, jupyter, name, ui=ui).open(cells=len(cells))
    nb.run_and_wait(0)
    return Panel(nb, 0)


@pytest.mark.parametrize("ui", UIS)
def test_one_button_flips_send_stop_send_and_the_header_holds_the_controls(
    page, jupyter: JupyterServer, offline: OfflineServer, ui: str
) -> None:
    slow = 'panel.params = {"nbstream": {"tokens": 200, "rate": 20}}'  # 10 s of streaming
    panel = open_panel(page, jupyter, f"panel-controls-{ui}.ipynb", ui, panel_cell(), slow)
    controls = panel.root.evaluate(_CONTROLS)
    assert controls == {
        "input": ["Send"],
        "header": {"model": 1, "buttons": ["New chat"]},
        "elsewhere": 0,
    }, controls
    panel.nb.run_and_wait(1)
    panel.box.fill("Stream for a while.")
    panel.action.click()
    streaming = page.wait_for_function(
        _CONTROLS_WHILE_STREAMING,
        arg=[panel.root.element_handle(), _READ_PANEL, _CONTROLS, 3],
        timeout=30_000,
        polling=50,
    ).json_value()
    assert streaming["controls"]["input"] == ["Stop"], streaming
    assert streaming["header"].endswith("streaming"), streaming
    final = panel.wait_for_reply(1, timeout=60)
    assert panel.root.evaluate(_CONTROLS)["input"] == ["Send"]
    assert stats_footer(final)["ending"] == "finished", final["stats"]
    assert final["users"] == ["Stream for a while."] and len(final["reply"].split()) == 200
    assert offline.log.records[-1].outcome == "complete"


@pytest.mark.parametrize("ui", UIS)
def test_a_code_block_has_a_copy_button_that_copies_its_code(
    page, jupyter: JupyterServer, ui: str
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=jupyter.url)
    panel = open_panel(
        page, jupyter, f"panel-copy-{ui}.ipynb", ui, panel_cell(text=MARKDOWN, rate=0), ""
    )
    panel.send("Show me code.")
    final = panel.wait_for_reply(1)
    blocks = panel.root.locator(".nbstream-list pre")
    assert blocks.count() == 1 and blocks.locator(".nbstream-copy").count() == 1
    assert "Copy" not in final["reply"], "the button's label is not part of the reply's text"
    page.evaluate(
        "() => { window.__copies = [];"
        " document.addEventListener('nbstream-copy', (e) => window.__copies.push(e.detail)); }"
    )
    blocks.locator(".nbstream-copy").click()
    page.wait_for_function("() => window.__copies.length === 1")
    [copy] = page.evaluate("() => window.__copies")
    assert copy["text"].rstrip("\n") == CODE, copy
    if copy["copied"]:  # the clipboard took it: read it back
        assert page.evaluate("() => navigator.clipboard.readText()").rstrip("\n") == CODE
    print(f"copied to the clipboard: {copy['copied']}")
    state = blocks.locator(".nbstream-copy").get_attribute("data-state")
    assert state == ("copied" if copy["copied"] else "failed"), state


@pytest.mark.parametrize("ui", UIS)
def test_a_chat_cell_on_the_panels_thread_appears_in_the_panel_without_refresh(
    page, jupyter: JupyterServer, ui: str
) -> None:
    options = shlex.quote(json.dumps({"text": MARKDOWN, "rate": 0}))
    panel = open_panel(
        page,
        jupyter,
        f"panel-follows-{ui}.ipynb",
        ui,
        "%load_ext nbstream\n" + panel_cell(),
        f"%%chat -p nbstream={options}\nWhat is the plan?",
    )
    assert panel.read()["replies"] == []
    panel.nb.run_and_wait(1)
    page.wait_for_function(
        "(panel) => panel.querySelectorAll('.nbstream-exchange').length === 1",
        arg=panel.root.element_handle(),
        timeout=30_000,
    )
    exchange = panel.root.locator(".nbstream-exchange")
    text = exchange.inner_text()
    assert "What is the plan?" in text and "A bold word" in flat(text), text
    for marker in MARKERS:
        assert marker not in text, f"{marker!r} shown as typed in {text!r}"
    assert exchange.locator("strong, blockquote, h1, ul, table, pre code").count() == 6
    assert exchange.locator(".nbstream-copy").count() == 1
    assert exchange.locator(".nbstream-badge").first.inner_text().strip() == "finished"
