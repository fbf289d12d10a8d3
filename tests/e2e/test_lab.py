"""`%%chat` in JupyterLab 4, in a real browser: streaming, saving, safety, interrupts, themes.

Issue 7 §1-4. The panel scenario (§5) belongs in its own module, `test_panel.py`, with the
panel's own page helpers; these tests only drive notebook cells.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from nbstream.offline.server import OfflineServer

from .conftest import (
    API_KEY,
    IOPUB_LIMIT,
    MODEL,
    JupyterServer,
    Notebook,
    assert_grows_in_place,
    chat_cell,
    flat,
    footer,
)

pytestmark = pytest.mark.e2e


def test_a_slow_stream_grows_in_place_then_a_fast_20000_token_stream_arrives_whole(
    page, jupyter: JupyterServer, offline: OfflineServer, artifacts: Path
) -> None:
    jupyter.write_notebook(
        "stream.ipynb",
        "%load_ext nbstream",
        # 12 s of streaming: the display updates at most 10 times a second, so its number of
        # states grows with the reply's length in time, not with its tokens.
        chat_cell("Stream slowly.", tokens=120, rate=10),
        chat_cell("Stream fast.", tokens=20_000, rate=0),
        "import hashlib\n"
        "_flat = ' '.join(_chat.text.split())\n"
        "print(len(_chat.text.split()), len(_flat), hashlib.sha256(_flat.encode()).hexdigest())",
        "",
    )
    nb = Notebook(page, jupyter, "stream.ipynb").open(cells=5)
    nb.run_and_wait(0)

    nb.start_sampler(1)
    nb.run(1)
    final = nb.wait_done(1, timeout=60)
    states = nb.stop_sampler()
    (artifacts / "slow-stream-states.json").write_text(json.dumps(states, indent=1))

    assert_grows_in_place(states, final, least=5)
    assert footer(final)["tokens"] == "120" and footer(final)["ending"] == "finished"
    assert len(final["reply"].split()) == 120
    assert nb.cell(1).locator(".jp-OutputArea-output").count() == 1, "one output, updated"
    assert IOPUB_LIMIT not in nb.page_text()

    fast = nb.run_and_wait(2, timeout=90)
    match = footer(fast)
    assert (match["tokens"], match["ending"]) == ("20000", "finished"), fast["last"]
    shown = flat(fast["reply"])
    kernel = nb.run_and_wait(3)["text"].split()
    assert kernel[:2] == [str(20_000), str(len(shown))], (kernel, len(shown))
    assert kernel[2] == hashlib.sha256(shown.encode()).hexdigest(), "the page differs from _chat"
    assert IOPUB_LIMIT not in nb.page_text()
    assert offline.log.records[-1].outcome == "complete"


def test_a_saved_reply_and_footer_survive_kernel_shutdown_and_reopening(
    page, jupyter: JupyterServer
) -> None:
    name = "persist.ipynb"
    jupyter.write_notebook(name, "%load_ext nbstream", "%%chat\nKeep this reply.", "")
    nb = Notebook(page, jupyter, name).open(cells=3)
    nb.run_and_wait(0)
    before = nb.run_and_wait(1)
    tokens = int(footer(before)["tokens"])
    assert "Offline demo reply" in before["reply"]

    nb.save()
    saved = jupyter.read_notebook(name).cells[1].outputs
    assert [o.output_type for o in saved] == ["display_data"], saved
    data, meta = saved[0].data, saved[0].metadata["nbstream"]
    assert set(data) == {"text/markdown", "text/plain"}
    assert data["text/plain"].endswith(f"{before['last']} · finished")
    assert f"</span> {before['last']}</div>" in data["text/markdown"]
    assert before["badges"] == ["finished"] and "nbstream-badge-streaming" not in str(data)
    assert meta["status"] == "complete" and meta["model"] == MODEL
    assert meta["usage"]["completion_tokens"] == tokens
    assert API_KEY not in (jupyter.root / name).read_text()

    jupyter.api("DELETE", f"/api/kernels/{nb.kernel_id()}")
    assert jupyter.api("GET", "/api/kernels") == []
    page.reload()
    nb.wait_loaded(cells=3)
    after = nb.read(1)
    # Reopened without a kernel, the saved output is untrusted and sanitised: the badge keeps
    # its colour and the footer its rule.
    assert {k: after[k] for k in ("reply", "last", "badges", "prompt")} == {
        k: before[k] for k in ("reply", "last", "badges", "prompt")
    }
    badge = nb.cell(1).locator(".nbstream-badge").first
    assert badge.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgb(26, 127, 55)"
    rule = (
        nb.cell(1).locator(".nbstream-footer").evaluate("(f) => getComputedStyle(f).borderTopStyle")
    )
    assert rule == "solid"


PAYLOAD = "\n\n".join(
    [
        "Hostile reply:",
        '<img src=x onerror="window.__nbstream_pwned=1">',
        "<script>window.__nbstream_pwned=1</script>",
        "[click](javascript:window.__nbstream_pwned=1)",
        '<iframe src="javascript:window.__nbstream_pwned=1"></iframe>',
        "The end.",
    ]
)
#: What the page shows of PAYLOAD.
SHOWN = PAYLOAD.replace("[click](javascript:window.__nbstream_pwned=1)", "click")


def test_html_and_script_links_in_a_reply_show_as_text_and_never_run(
    page, jupyter: JupyterServer, alarms: list[str]
) -> None:
    img = PAYLOAD.split("\n\n")[1].replace("=1", "='control'")
    control = f"from IPython.display import HTML\nHTML({img!r})"
    jupyter.write_notebook(
        "hostile.ipynb",
        "%load_ext nbstream",
        chat_cell("Say it.", text=PAYLOAD, rate=40),
        control,
    )
    nb = Notebook(page, jupyter, "hostile.ipynb").open(cells=3)
    nb.run_and_wait(0)
    final = nb.run_and_wait(1)  # streams for about half a second: partial tags render too
    assert footer(final)["ending"] == "finished"

    output = nb.cell(1).locator('.jp-OutputArea-output[data-mime-type="text/markdown"]')
    assert output.locator("img, iframe, script, object, embed, svg, form").count() == 0
    # Every tag shows as text; the script link is no link, only its words.
    assert flat(final["reply"]) == flat(SHOWN), final["reply"]
    assert output.locator("a").count() == 0
    output.get_by_text("click", exact=True).click()
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__nbstream_pwned") == "undefined"
    assert alarms == [], f"script ran: {alarms}"

    # The control: the same <img> as a raw HTML output does run, so the wire works.
    nb.run_and_wait(2)
    page.wait_for_function("() => window.__nbstream_pwned === 'control'", timeout=30_000)
    assert alarms and all(not a.startswith("dialog") for a in alarms), alarms


def test_the_stop_button_interrupts_a_stream_keeping_the_partial_reply_marked(
    page, jupyter: JupyterServer, offline: OfflineServer, artifacts: Path
) -> None:
    jupyter.write_notebook(
        "interrupt.ipynb",
        "%load_ext nbstream",
        chat_cell("Stream until stopped.", tokens=1000, rate=10),
        "print('kernel alive')",
    )
    nb = Notebook(page, jupyter, "interrupt.ipynb").open(cells=3)
    nb.run_and_wait(0)
    nb.run(1)
    page.wait_for_function(
        "([cell, read]) => { const s = eval(read)(cell); const m = /^(\\d+) tokens/"
        ".exec(s.last || ''); return s.badges[0] === 'streaming' && m && +m[1] >= 8; }",
        arg=[nb.cell(1).element_handle(), nb.read_source],
        timeout=30_000,
        polling=50,
    )
    nb.screenshot(nb.cell(1), artifacts / "chat-cell-streaming.png")
    nb.toolbar_button("notebook:interrupt-kernel").click()
    final = nb.wait_done(1, timeout=30)  # the whole reply would take 100 s

    match = footer(final)
    stopped = re.fullmatch(r"interrupted after (\d+) tokens", match["ending"])
    assert stopped, final["last"]
    tokens = int(stopped[1])
    assert 8 <= tokens < 1000 and match["tokens"] == str(tokens)
    assert len(final["reply"].split()) == tokens, "the partial reply is kept, word for word"
    assert "KeyboardInterrupt" in final["errors"], final["text"]
    assert offline.log.wait_for(lambda r: bool(r) and r[-1].outcome == "disconnected", 30)
    assert tokens <= offline.log.records[-1].chunks_sent < 1000
    assert "kernel alive" in nb.run_and_wait(2)["text"]


_CONTRAST = """(el) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const channel = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  let bg = null;
  for (let n = el; n && !bg; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) bg = c.slice(0, 3);
  }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg || [255, 255, 255])];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def contrast(locator: Any) -> float:
    """WCAG contrast ratio of an element's text colour against its effective background."""
    return float(locator.evaluate(_CONTRAST))


def test_the_chat_cell_is_readable_in_light_and_dark_themes(
    hidpi_page, jupyter: JupyterServer, artifacts: Path
) -> None:
    page = hidpi_page
    jupyter.write_notebook(
        "themes.ipynb",
        "%load_ext nbstream",
        "%%chat\nWhat is a Jupyter kernel, in two sentences?",
        "",
    )
    nb = Notebook(page, jupyter, "themes.ipynb").open(cells=3)
    nb.run_and_wait(0)
    final = nb.run_and_wait(1)
    footer(final)
    cell = nb.cell(1)
    markdown = cell.locator('.jp-OutputArea-output[data-mime-type="text/markdown"]')
    try:
        for theme, light in (("JupyterLab Light", True), ("JupyterLab Dark", False)):
            nb.set_theme(theme)
            assert page.locator("body").get_attribute("data-jp-theme-light") == str(light).lower()
            footer_line = markdown.locator(".nbstream-footer").last
            badge = footer_line.locator(".nbstream-badge").first
            for part in (markdown.locator("p").first, footer_line, badge):
                ratio = contrast(part)
                assert ratio >= 4.5, f"{theme}: contrast {ratio:.1f} for {part.inner_text()!r}"
            suffix = "" if light else "-dark"
            nb.screenshot(cell, artifacts / f"chat-cell{suffix}.png")
    finally:
        nb.set_theme("JupyterLab Light")  # the setting outlives the page


def test_a_grid_renders_markdown_and_shows_each_cards_badge(page, jupyter: JupyterServer) -> None:
    jupyter.write_notebook(
        "grid.ipynb",
        "import nbstream\n_ = nbstream.gather(['Say hello.', 'Quote me.'], model='nbstream-demo')",
        "",
    )
    nb = Notebook(page, jupyter, "grid.ipynb").open(cells=2)
    nb.run_and_wait(0)
    grid = nb.cell(0).locator(".nbstream-grid")
    text = grid.inner_text()
    assert "**" not in text and "\n> " not in text, text  # rendered, not literal Markdown
    assert grid.locator("strong").count() >= 1
    words = grid.locator(".nbstream-badge").all_inner_texts()
    assert [w.strip() for w in words] == ["finished", "finished"], words


GRID_REPLY = (
    "**In short:** the answer streams into its card.\n\n"
    "- Markdown renders as in a cell\n- the badge says how it ended\n\n"
    "> Each card grows with its reply."
)


def test_a_grid_is_readable_in_light_and_dark_themes(
    hidpi_page, jupyter: JupyterServer, artifacts: Path
) -> None:
    page = hidpi_page
    prompts = ["What is a Jupyter kernel?", "What is a notebook cell?", "Why stream replies?"]
    reply = {"text": GRID_REPLY}  # one short reply for each: the picture stays small
    jupyter.write_notebook(
        "grid-themes.ipynb",
        f"import nbstream\n_ = nbstream.gather({prompts!r}, model='nbstream-demo', "
        f"nbstream={reply!r})",
        "",
    )
    nb = Notebook(page, jupyter, "grid-themes.ipynb").open(cells=2)
    nb.run_and_wait(0)
    nb.cell(1).locator(".cm-content").click()  # no focus ring on the grid's cell
    grid = nb.cell(0).locator(".nbstream-grid")
    try:
        for theme, light in (("JupyterLab Light", True), ("JupyterLab Dark", False)):
            nb.set_theme(theme)
            for part in (grid.locator("p").first, grid.locator(".nbstream-badge").first):
                ratio = contrast(part)
                assert ratio >= 4.5, f"{theme}: contrast {ratio:.1f} for {part.inner_text()!r}"
            suffix = "" if light else "-dark"
            nb.screenshot(nb.cell(0).locator(".jp-OutputArea"), artifacts / f"grid{suffix}.png")
    finally:
        nb.set_theme("JupyterLab Light")  # the setting outlives the page
    for suffix in ("", "-dark"):
        size = (artifacts / f"grid{suffix}.png").stat().st_size
        assert size <= 200_000, f"grid{suffix}.png is {size} bytes, over the docs limit"
