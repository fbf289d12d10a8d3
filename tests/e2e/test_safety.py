"""The whole adversarial corpus of test_markdown_safety.py in a real browser, on every surface.

For each surface (`%%chat` outputs, a gather grid of at most `GRID_MOST` prompts, the progress
view a larger gather shows with its last few replies, the chat panel with its saved transcript)
and each front end (JupyterLab 4, Notebook 7): one notebook whose one cell shows every
payload, checked live and again after save, kernel shutdown and reopening (the front end
then trusts the saved outputs). Every payload sets `window.__nbstream_pwned` or fetches from
a `.invalid` host if it ever runs or loads; the tripwire, the request log and the rendered
elements must show none of it. A control cell at the end proves that the wire works.
"""

from __future__ import annotations

import json
import math

import pytest

from nbstream.gather import GRID_MOST
from nbstream.scale.progress import LAST

from ..test_markdown_safety import CORPUS, IMG
from .conftest import JupyterServer, Notebook

# The corpus in several states takes minutes on a busy machine; a hang still fails.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

_OPTIONS = {"rate": 5000.0, "first_token_delay": 0.0}
_KEYS = list(CORPUS)


def chunks(surface: str) -> list[dict[str, str]]:
    """The corpus in cells: a grid holds at most GRID_MOST prompts (more get the progress view);
    JupyterLab shows the first 50 outputs of a cell (then a "show more" button)."""
    size = GRID_MOST if surface == "grid" else 45
    return [{k: CORPUS[k] for k in _KEYS[i : i + size]} for i in range(0, len(_KEYS), size)]


def _cell(surface: str, chunk: dict[str, str]) -> str:
    payloads = f"CORPUS = __import__('json').loads({json.dumps(json.dumps(chunk))})"
    return SURFACES[surface].replace("#PAYLOADS", payloads)


def _in_progress_views(chunk: dict[str, str]) -> int:
    """Replies the progress views of a chunk's cell list: LAST for each gather of its payloads."""
    return math.ceil(len(chunk) / LAST) * LAST


#: Per surface, a cell that shows every payload of a chunk (put in for `#PAYLOADS`).
SURFACES = {
    "chat": (
        "import json, shlex\n"
        "#PAYLOADS\n"
        "for key, text in CORPUS.items():\n"
        f"    options = json.dumps({{'text': text, **{_OPTIONS!r}}})\n"
        "    get_ipython().run_cell_magic(\n"
        "        'chat', f'--no-history -p nbstream={shlex.quote(options)}', key)"
    ),
    "grid": (
        "import nbstream\n"
        "#PAYLOADS\n"
        "nbstream.gather(list(CORPUS.values()),\n"
        f"                params={{'nbstream': {{'echo': True, **{_OPTIONS!r}}}}});"
    ),
    # Past GRID_MOST prompts, gather shows the progress view with the LAST replies: one at a
    # time, the last few prompts of each gather are payloads, so every payload ends up listed.
    "progress": (
        "import nbstream\n"
        "#PAYLOADS\n"
        "texts = list(CORPUS.values())\n"
        f"for i in range(0, len(texts), {LAST}):\n"
        f"    group = texts[i : i + {LAST}]\n"
        f"    nbstream.gather(['ok'] * ({GRID_MOST} + 1 - len(group)) + group, concurrency=1,\n"
        f"                    params={{'nbstream': {{'echo': True, **{_OPTIONS!r}}}}});"
    ),
    "panel": (
        "import nbstream\n"
        "#PAYLOADS\n"
        "for text in CORPUS.values():\n"
        "    nbstream.chat(text, thread='safety', show=False,\n"
        f"                  params={{'nbstream': {{'echo': True, **{_OPTIONS!r}}}}})\n"
        "nbstream.ChatPanel(thread='safety')"
    ),
}
CONTROL = f"from IPython.display import HTML\nHTML({IMG.replace('=1', '=2')!r})"

#: What the page made of the payload cell: active elements, links, and how much it shows.
_INSPECT = """(cell) => {
  const outside = (e) => !e.closest('mjx-container');
  const active = [...cell.querySelectorAll(
    '.jp-OutputArea-output img, .jp-OutputArea-output iframe, .jp-OutputArea-output script,'
    + '.jp-OutputArea-output object, .jp-OutputArea-output embed, .jp-OutputArea-output svg,'
    + '.jp-OutputArea-output form, .jp-OutputArea-output math, .jp-OutputArea-output [style*="url"]'
  )].filter(outside).map((e) => e.outerHTML.slice(0, 200));
  const handlers = [...cell.querySelectorAll('.jp-OutputArea-output *')]
    .filter((e) => [...e.attributes].some((a) => a.name.startsWith('on')))
    .map((e) => e.outerHTML.slice(0, 200));
  // Where each link would take the browser, its relative targets resolved.
  const links = [...cell.querySelectorAll('.jp-OutputArea-output a[href]')]
    .filter((a) => !['http:', 'https:', 'mailto:'].includes(a.protocol))
    .map((a) => a.getAttribute('href'));
  const count = (selector) => cell.querySelectorAll(selector).length;
  return {
    active, handlers, links,
    shown: {
      chat: count('.jp-OutputArea-output[data-mime-type="text/markdown"]'),
      grid: count('.nbstream-item'),
      views: count('.nbstream-progress'),
      progress: count('.nbstream-progress > ul > li'),
      panel: count('.nbstream-assistant'),
      transcript: count('.jp-OutputArea-output details'),
    },
  };
}"""


# How much the payload cells show (counts by kind of _INSPECT's `shown`) and whether MathJax
# has typeset them. JupyterLab loads MathJax on the first typeset; every typeset waiting for it
# runs in one go once it is in, and later ones as their outputs render. So a `mjx-container` in
# a payload cell means that the TeX payloads of what is shown were rendered and can be checked.
_SHOWN = """([cells, inspect]) => {
  const shown = {};
  for (const cell of cells) {
    for (const [kind, n] of Object.entries(eval(inspect)(cell).shown)) {
      shown[kind] = (shown[kind] || 0) + n;
    }
  }
  return {shown, typeset: cells.some((cell) => cell.querySelector('mjx-container') !== null)};
}"""


def _wait_shown(nb: Notebook, cells: int, want: dict[str, int], state: str) -> None:
    """Wait until the payload cells show `want` and MathJax has typeset them."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    handles = [nb.cell(index).element_handle() for index in range(1, cells + 1)]
    done = (
        f"([cells, inspect, want]) => {{ const s = ({_SHOWN})([cells, inspect]);"
        " return s.typeset && Object.entries(want).every(([k, n]) => s.shown[k] === n); }"
    )
    try:
        nb.page.wait_for_function(done, arg=[handles, _INSPECT, want], timeout=60_000, polling=250)
    except PlaywrightTimeout:
        seen = nb.page.evaluate(_SHOWN, [handles, _INSPECT])  # says more than the timeout
        raise AssertionError(f"{state}: not {want} after 60 s: {seen}") from None


def _check(
    nb: Notebook, cells: int, requests: list[str], alarms: list[str], state: str
) -> dict[str, int]:
    """Nothing ran, loaded or stayed active in any payload cell; how much each one shows."""
    assert alarms == [], f"{state}: a payload ran: {alarms}"
    assert [url for url in requests if ".invalid" in url] == [], f"{state}: a payload loaded"
    shown: dict[str, int] = {}
    for index in range(1, cells + 1):
        seen = nb.cell(index).evaluate(_INSPECT)
        assert seen["active"] == [] and seen["handlers"] == [], f"{state}: {seen}"
        assert seen["links"] == [], f"{state}: links outside the allow-list: {seen['links']}"
        for kind, count in seen["shown"].items():
            shown[kind] = shown.get(kind, 0) + count
    return shown


@pytest.mark.parametrize("ui", ["lab", "notebook"])
@pytest.mark.parametrize("surface", SURFACES)
def test_no_payload_runs_or_loads_live_or_after_reopening(
    page, jupyter: JupyterServer, alarms: list[str], surface: str, ui: str
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    name = f"safety-{surface}-{ui}.ipynb"
    parts = chunks(surface)
    cells = [_cell(surface, chunk) for chunk in parts]
    jupyter.write_notebook(name, "%load_ext nbstream", *cells, CONTROL)
    total = len(cells) + 2
    nb = Notebook(page, jupyter, name, ui=ui).open(cells=total)
    for index in range(total - 1):
        nb.run_and_wait(index, timeout=240)
    # Every payload is on show; each cell's panel follows the thread, so each holds it whole.
    expected = {
        "panel": len(CORPUS) * len(parts),
        "progress": sum(_in_progress_views(chunk) for chunk in parts),
    }.get(surface, len(CORPUS))
    # A grid's gathers stay cards; a progress cell's gathers each get one view.
    views = sum(math.ceil(len(chunk) / LAST) for chunk in parts) if surface == "progress" else 0
    # Outputs render, and MathJax typesets them, after the cell's run ends.
    _wait_shown(nb, len(cells), {surface: expected, "views": views}, f"{surface} in {ui}, live")
    live = _check(nb, len(cells), requests, alarms, f"{surface} in {ui}, live")
    assert live[surface] == expected, live
    assert live["views"] == views, live

    nb.save()
    jupyter.api("DELETE", f"/api/kernels/{nb.kernel_id()}")
    page.reload()
    nb.wait_loaded(cells=total)
    # Widgets are not saved: the panel comes back as its transcripts, Markdown outputs.
    back = {"transcript": len(parts)} if surface == "panel" else {surface: expected}
    _wait_shown(nb, len(cells), back, f"{surface} in {ui}, reopened")
    reopened = _check(nb, len(cells), requests, alarms, f"{surface} in {ui}, reopened")
    for kind, count in back.items():
        assert reopened[kind] == count, reopened

    # The control: the same tag as a raw HTML output does run, so the tripwire works here.
    nb.run_and_wait(total - 1)
    page.wait_for_function("() => window.__nbstream_pwned === 2", timeout=30_000)
