"""The chat panel (`nbstream.ChatPanel`) in JupyterLab 4, in a real browser.

Issue 7 §5 and issue 4's browser test: the panel streams on nbstream's loop thread while
another cell sleeps, Stop ends a stream, the transcript output survives saving and a kernel
shutdown, the panel reads well in light and dark themes (its pictures, panel.png and
panel-dark.png in the artifacts directory, are docs/'s: scripts/screenshots.py copies them),
and model output in it never runs (in Notebook 7 too). Its chat-app layout: test_panel_chat.py.

Messages are put in the box with `fill` (one input event, as a paste) and sent with a real
Enter key press. Typed character by character faster than the kernel acknowledges each update,
the text reaches the kernel after the submit (ipywidgets buffers state updates while one is
unanswered, custom messages are not buffered), so the submit carries the text: see the
last test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from nbstream.offline.server import OfflineServer

from .conftest import API_KEY, LIVE, MODEL, STATUS, JupyterServer, Notebook, flat, footer
from .test_lab import PAYLOAD, SHOWN

pytestmark = pytest.mark.e2e

DOCS_LIMIT = 200_000  # bytes per docs picture

# What the panel shows, read in the page. A message's text leaves out its role line
# ("You", the model name); `reply` and `stats` are the last assistant message and stats line.
_READ_PANEL = """(panel) => {
  const body = (row) => {
    const content = row.querySelector('.widget-html-content') || row;
    return [...content.children].filter((c) => !c.classList.contains('nbstream-role'))
      .map((c) => c.innerText).join('\\n');
  };
  const rows = [...panel.querySelectorAll('.nbstream-list > *')];
  const of = (cls) => rows.filter((r) => r.classList.contains(cls));
  const last = (list) => list[list.length - 1];
  const reply = last(of('nbstream-assistant'));
  const stats = last(of('nbstream-stats'));
  const action = panel.querySelector('.nbstream-input .nbstream-action');
  const line = stats && stats.querySelector('.nbstream-footer');
  const busy = panel.querySelector('.nbstream-busy');
  const marks = line ? [...line.querySelectorAll('.nbstream-badge')] : [];
  return {
    users: of('nbstream-user').map(body),
    replies: of('nbstream-assistant').map(body),
    reply: reply ? body(reply) : null,
    streaming: panel.querySelectorAll('.nbstream-streaming').length > 0,
    stats: line ? [...line.childNodes].filter((n) => !marks.includes(n))
      .map((n) => n.textContent).join('').trim() : null,
    badges: marks.map((b) => b.innerText.trim()),
    errors: of('nbstream-error').map((r) => r.innerText.trim()),
    header: panel.querySelector('.nbstream-header .nbstream-heading').innerText.trim(),
    box: panel.querySelector('.nbstream-input textarea').value,
    buttons: [...panel.querySelectorAll('.nbstream-input button')].map((b) => b.innerText),
    send: action.innerText === 'Send',
    stop: action.innerText === 'Stop',
    new: !panel.querySelector('.nbstream-header .nbstream-new').disabled,
    busy: busy && !busy.hidden ? busy.innerText.trim() : '',
  };
}"""

# Samples the panel every 100 ms in the page, with the execution prompt and the output text of
# another cell, and keeps each distinct state with its time.
_START_PANEL_SAMPLER = """([panel, cell, read]) => {
  const readPanel = eval(read);
  const states = [];
  const t0 = performance.now();
  const sample = () => {
    const s = readPanel(panel);
    const prompt = cell.querySelector('.jp-InputPrompt').innerText.trim();
    const output = [...cell.querySelectorAll('.jp-OutputArea-output')]
      .map((o) => o.innerText).join('\\n').trim();
    const prev = states[states.length - 1];
    if (!prev || prev.reply !== s.reply || prev.stats !== s.stats || prev.prompt !== prompt
        || prev.output !== output) {
      states.push({t: (performance.now() - t0) / 1000, reply: s.reply, stats: s.stats,
                   badges: s.badges, streaming: s.streaming, prompt, output});
    }
  };
  const timer = setInterval(sample, 100);
  window.__nbstream_panel_sampler = {states, stop: () => { clearInterval(timer); sample(); }};
}"""

# WCAG contrast of an element's text against what is behind it: the text colour and every
# translucent background on the way up are composited (JupyterLab's secondary text colours are
# translucent), over white where nothing is opaque.
_CONTRAST = """(el) => {
  const rgba = (c) => {
    const v = (c.match(/[\\d.]+/g) || []).map(Number);
    return v.length === 3 ? [...v, 1] : v.length === 4 ? v : [0, 0, 0, 0];
  };
  const over = (top, below) => below.map((v, i) => top[i] * top[3] + v * (1 - top[3]));
  const layers = [];
  for (let n = el; n; n = n.parentElement) layers.push(rgba(getComputedStyle(n).backgroundColor));
  let bg = [255, 255, 255];
  for (const layer of layers.reverse()) bg = over(layer, bg);
  const fg = over(rgba(getComputedStyle(el).color), bg);
  const channel = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const [a, b] = [lum(fg), lum(bg)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""

#: JupyterLab's setting that sends comm messages to kernel subshells (on by default in 4.6).
KERNEL_SETTINGS = "/lab/api/settings/@jupyterlab/apputils-extension:kernels-settings"


def sleep_until(release: Path, most: float = 90) -> str:
    """A cell that blocks the kernel's main thread until the test creates `release`: it runs
    exactly as long as the test needs, however busy the machine. Past `most` seconds it fails,
    so a test that never releases it (having failed already) cannot hang."""
    return (
        "import os, time\n"
        f"_deadline = time.monotonic() + {most}\n"
        f"while not os.path.exists({str(release)!r}):\n"
        "    assert time.monotonic() < _deadline, 'the test never released this cell'\n"
        "    time.sleep(0.05)\n"
    )


def panel_cell(**server_options: Any) -> str:
    """A cell that shows a panel whose replies the offline server shapes with `server_options`."""
    params = {"nbstream": server_options} if server_options else {}
    return f"import nbstream\npanel = nbstream.ChatPanel(params={params!r})\npanel"


class Panel:
    """The chat panel shown by a notebook cell."""

    def __init__(self, nb: Notebook, cell: int) -> None:
        self.nb, self.page, self.cell = nb, nb.page, cell
        self.root = nb.cell(cell).locator(".nbstream-panel")
        self.box = self.root.locator(".nbstream-input textarea")
        self.action = self.root.locator(".nbstream-input .nbstream-action")  # Send, or Stop

    def read(self) -> dict[str, Any]:
        """Messages, the last reply and stats line, the header, the box and the buttons."""
        return self.root.evaluate(_READ_PANEL)

    def send(self, text: str) -> None:
        """Put `text` in the message box and press Enter there."""
        self.box.fill(text)
        self.box.press("Enter")

    def wait_for_reply(self, replies: int, timeout: float = 30) -> dict[str, Any]:
        """Wait until the panel shows `replies` replies, none streaming, with a final stats
        line, and is ready for the next message (Send on, Stop off); what it shows then."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(
                "([panel, read, n]) => { const s = eval(read)(panel); return s.replies.length"
                " >= n && !s.streaming && s.badges.length && !['waiting', 'thinking',"
                " 'streaming'].includes(s.badges[0]) && s.send && !s.stop; }",
                arg=[self.root.element_handle(), _READ_PANEL, replies],
                timeout=timeout * 1000,
                polling=50,
            )
        except PlaywrightTimeout:
            state = self.read()  # says more than the timeout
            raise AssertionError(
                f"no finished reply {replies} after {timeout} s: {state}"
            ) from None
        return self.read()

    def wait_for_tokens(self, least: int, timeout: float = 30) -> None:
        """Wait until the streaming status line counts at least `least` tokens."""
        self.page.wait_for_function(
            "([panel, read, n]) => { const s = eval(read)(panel); const m = /^(\\d+) tokens/"
            ".exec(s.stats || ''); return s.badges[0] === 'streaming' && m && +m[1] >= n; }",
            arg=[self.root.element_handle(), _READ_PANEL, least],
            timeout=timeout * 1000,
            polling=50,
        )

    def start_sampler(self, other_cell: int) -> None:
        """Record the panel's distinct states every 100 ms, with another cell's prompt."""
        self.page.evaluate(
            "([panel, cell, read]) => (" + _START_PANEL_SAMPLER + ")([panel, cell, read])",
            [self.root.element_handle(), self.nb.cell(other_cell).element_handle(), _READ_PANEL],
        )

    def stop_sampler(self) -> list[dict[str, Any]]:
        return self.page.evaluate(
            "() => { window.__nbstream_panel_sampler.stop();"
            " return window.__nbstream_panel_sampler.states; }"
        )

    def transcript(self) -> Any:
        """The transcript output under the panel: a collapsed <details>."""
        return self.nb.cell(self.cell).locator(
            '.jp-OutputArea-output[data-mime-type="text/markdown"] details'
        )


def contrast(locator: Any) -> float:
    return float(locator.evaluate(_CONTRAST))


def stats_footer(state: dict[str, Any]) -> dict[str, str]:
    """The panel's stats line under a finished reply, parsed like a cell's footer."""
    return footer({"last": state["stats"], "badges": state["badges"]})


#: Page-side: whether the panel sampler has seen `least` distinct replies streaming while the
#: other cell slept (it had printed "sleeping" and was still running).
_GREW_WHILE_ASLEEP = """(least) => new Set(window.__nbstream_panel_sampler.states
  .filter((s) => s.prompt === '[*]:' && s.output === 'sleeping' && s.streaming && s.reply)
  .map((s) => s.reply)).size >= least"""


def test_the_panel_keeps_streaming_while_another_cell_sleeps(
    page, jupyter: JupyterServer, offline: OfflineServer, artifacts: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    jupyter.write_notebook(
        "panel-stream.ipynb",
        # 15 s: far longer than the cell below takes to start, even on a busy machine.
        panel_cell(tokens=300, rate=20),
        "print('sleeping', flush=True)\n" + sleep_until(release) + "print('slept')",
    )
    nb = Notebook(page, jupyter, "panel-stream.ipynb").open(cells=2)
    nb.run_and_wait(0)
    panel = Panel(nb, 0)
    before = panel.read()
    assert before["users"] == [] and before["send"] and not before["stop"], before

    panel.start_sampler(other_cell=1)
    panel.send("Tell me about streaming.")
    # The Enter went to the kernel as a comm message before the cell below takes it.
    panel.wait_for_tokens(1)
    nb.run(1)
    # The cell sleeps until the page has seen the reply grow under it, then the test wakes it:
    # the overlap is made, not hoped for. A reply that stalls while the cell sleeps times out.
    page.wait_for_function(_GREW_WHILE_ASLEEP, arg=3, timeout=60_000, polling=100)
    release.touch()
    slept = nb.wait_done(1, timeout=60)
    assert slept["text"].split() == ["sleeping", "slept"] and not slept["errors"], slept
    final = panel.wait_for_reply(1, timeout=60)
    states = panel.stop_sampler()
    (artifacts / "panel-stream-states.json").write_text(json.dumps(states, indent=1))

    # While the cell slept ([*], "sleeping" shown), the reply grew: distinct states, each a
    # prefix of the next.
    busy = [
        s
        for s in states
        if s["prompt"] == "[*]:" and s["output"] == "sleeping" and s["streaming"] and s["reply"]
    ]
    replies = [flat(s["reply"]) for s in busy]
    assert len(set(replies)) >= 3, f"{len(set(replies))} states while the cell slept: {states}"
    for earlier, later in zip(replies, [*replies[1:], flat(final["reply"])], strict=True):
        assert later.startswith(earlier), f"the reply shrank or changed: {earlier!r} → {later!r}"
    counts = [int(STATUS.match(s["stats"])["tokens"]) for s in busy]  # type: ignore[index]
    assert counts == sorted(counts) and counts[-1] > counts[0], counts

    # The stats line replaces the status once the whole reply is there.
    match = stats_footer(final)
    assert (match["tokens"], match["ending"]) == ("300", "finished"), final["stats"]
    assert re.search(r"first token [\d.]+ s · [\d.]+ tok/s · total [\d.]+ s", final["stats"])
    assert len(final["reply"].split()) == 300
    assert final["users"] == ["Tell me about streaming."]
    assert final["box"] == "" and final["send"] and not final["stop"] and final["new"], final
    header = final["header"]
    assert re.search(r"1 request · \d+ tokens · mean [\d.]+ tok/s$", header), header
    finished = [s for s in states if s["badges"] and s["badges"][0] not in LIVE]
    assert all(flat(s["reply"]) == flat(final["reply"]) for s in finished), finished
    assert offline.log.records[-1].outcome == "complete"


def test_stop_ends_the_stream_keeps_it_marked_interrupted_and_the_panel_sends_again(
    page, jupyter: JupyterServer, offline: OfflineServer, artifacts: Path
) -> None:
    jupyter.write_notebook(
        "panel-stop.ipynb",
        panel_cell(tokens=1000, rate=10),
        'panel.params = {"nbstream": {"tokens": 400, "rate": 0}}',
    )
    nb = Notebook(page, jupyter, "panel-stop.ipynb").open(cells=2)
    nb.run_and_wait(0)
    panel = Panel(nb, 0)
    panel.send("Count slowly.")
    panel.wait_for_tokens(8)
    streaming = panel.read()
    assert streaming["streaming"] and streaming["stop"] and not streaming["send"], streaming
    assert not streaming["new"], "New chat must wait for the reply"
    nb.screenshot(panel.root, artifacts / "panel-streaming.png")

    panel.action.click()
    stopped = panel.wait_for_reply(1, timeout=30)  # the whole reply would take 100 s
    page.wait_for_timeout(500)
    assert panel.read()["reply"] == stopped["reply"], "the reply grew after Stop"

    match = stats_footer(stopped)
    ended = re.fullmatch(r"interrupted after (\d+) tokens", match["ending"])
    assert ended, stopped["stats"]
    tokens = int(ended[1])
    assert 8 <= tokens < 1000 and match["tokens"] == str(tokens), stopped["stats"]
    assert len(stopped["reply"].split()) == tokens, "the partial reply is kept, word for word"
    assert stopped["send"] and not stopped["stop"] and stopped["new"], stopped
    assert stopped["errors"] == [], stopped["errors"]
    assert offline.log.wait_for(lambda r: bool(r) and r[-1].outcome == "disconnected", 30)
    assert tokens <= offline.log.records[-1].chunks_sent < 1000

    nb.run_and_wait(1)  # a fast, long reply for the second message
    panel.send("Now a long one, quickly.")
    second = panel.wait_for_reply(2, timeout=60)
    assert second["users"] == ["Count slowly.", "Now a long one, quickly."]
    assert stats_footer(second)["ending"] == "finished", second["stats"]
    assert len(second["reply"].split()) == 400
    # Taller than the message list: it scrolls, and shows the newest line, the stats.
    scroll = panel.root.locator(".nbstream-messages").evaluate(
        "(box) => { const stats = [...box.querySelectorAll('.nbstream-stats')].pop();"
        " const [b, s] = [box.getBoundingClientRect(), stats.getBoundingClientRect()];"
        " return {overflows: box.scrollHeight > box.clientHeight + 50,"
        " statsShown: s.top >= b.top && s.bottom <= b.bottom + 1}; }"
    )
    assert scroll == {"overflows": True, "statsShown": True}, scroll
    assert second["header"].startswith("nbstream chat · thread default")
    assert "2 requests" in second["header"], second["header"]
    assert offline.log.records[-1].outcome == "complete"


REPLY = "A kernel runs your code; the notebook only shows what it sends back."


def test_a_saved_panel_keeps_its_transcript_after_kernel_shutdown_and_reload(
    page, jupyter: JupyterServer, artifacts: Path
) -> None:
    name = "panel-saved.ipynb"
    jupyter.write_notebook(name, panel_cell(text=REPLY, rate=0), "")
    nb = Notebook(page, jupyter, name).open(cells=2)
    nb.run_and_wait(0)
    panel = Panel(nb, 0)
    panel.send("What does a kernel do?")
    shown = panel.wait_for_reply(1)
    assert flat(shown["reply"]) == REPLY

    # The transcript under the panel is updated from the loop thread, after the cell ended.
    summary = panel.transcript().locator("summary")
    page.wait_for_function(
        "(el) => el.innerText.endsWith('· 1 turn')", arg=summary.element_handle(), timeout=30_000
    )
    assert not panel.transcript().evaluate("(d) => d.open"), "the transcript starts collapsed"

    panel.box.click()  # Ctrl+S saves from the panel's box too; other keys stay in the box
    nb.save()
    outputs = jupyter.read_notebook(name).cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data"], outputs
    assert "application/vnd.jupyter.widget-view+json" in outputs[0].data
    data = outputs[1].data
    assert set(data) == {"text/markdown", "text/plain"}, data
    assert data["text/plain"] == (
        "nbstream chat transcript · thread default · 1 turn\n\n"
        f"You: What does a kernel do?\n\n{MODEL}: {REPLY}"
    )
    markdown = data["text/markdown"]
    assert markdown.startswith("<details><summary>nbstream chat transcript · thread default")
    assert "**You:**\n\nWhat does a kernel do?" in markdown and REPLY in markdown, markdown
    assert API_KEY not in (jupyter.root / name).read_text()

    jupyter.api("DELETE", f"/api/kernels/{nb.kernel_id()}")
    assert jupyter.api("GET", "/api/kernels") == []
    page.reload()
    nb.wait_loaded(cells=2)
    output = nb.cell(0).locator(".jp-OutputArea-output")
    assert output.count() == 2, output.all_inner_texts()
    assert panel.root.count() == 0, "a panel without its widget state"
    # No widget state in the file, so the first output says the widget is not available.
    widget_note = output.first.inner_text()
    details = panel.transcript()
    assert details.locator("summary").inner_text().endswith("thread default · 1 turn")
    details.locator("summary").click()
    assert details.evaluate("(d) => d.open")
    text = flat(details.inner_text())
    assert "You: What does a kernel do?" in text and f"{MODEL}: {REPLY}" in text, text
    nb.screenshot(nb.cell(0), artifacts / "panel-reopened.png")
    print(f"the panel's widget output after reopening shows: {widget_note!r}")


def test_the_panel_is_readable_and_at_home_in_light_and_dark_themes(
    hidpi_page, jupyter: JupyterServer, artifacts: Path
) -> None:
    page = hidpi_page
    jupyter.write_notebook(
        "panel-themes.ipynb",
        panel_cell(
            text="A **kernel** is the process that runs your code. The notebook sends it each "
            "cell and shows what comes back: text, tables, plots.\n\n"
            "```python\nimport time\ntime.sleep(3)  # the panel keeps streaming meanwhile\n```",
            rate=40,
        ),
        "",
    )
    nb = Notebook(page, jupyter, "panel-themes.ipynb").open(cells=2)
    nb.run_and_wait(0)
    panel = Panel(nb, 0)
    panel.send("What is a Jupyter kernel, in two sentences?")
    panel.wait_for_reply(1)
    panel.box.fill("And what happens while a cell runs?")  # a draft in the box, not sent
    nb.cell(1).locator(".cm-content").click()  # no focus ring in the pictures
    root = panel.root
    parts = {
        "user message": root.locator(".nbstream-user p").first,
        "reply": root.locator(".nbstream-assistant p").first,
        "role": root.locator(".nbstream-assistant .nbstream-role").first,
        "stats line": root.locator(".nbstream-stats .widget-html-content").first,
        "header": root.locator(".nbstream-header .nbstream-title"),
        "totals": root.locator(".nbstream-header .nbstream-totals"),
        "message box": panel.box,
        "send button": panel.action,
        "copy button": root.locator(".nbstream-copy").first,
    }
    ratios: dict[str, dict[str, float]] = {}
    try:
        for theme, light in (("JupyterLab Light", True), ("JupyterLab Dark", False)):
            nb.set_theme(theme)
            assert page.locator("body").get_attribute("data-jp-theme-light") == str(light).lower()
            ratios[theme] = {part: round(contrast(loc), 2) for part, loc in parts.items()}
            suffix = "" if light else "-dark"
            nb.screenshot(root, artifacts / f"panel{suffix}.png")
    finally:
        nb.set_theme("JupyterLab Light")  # the setting outlives the page
    (artifacts / "panel-contrast.json").write_text(json.dumps(ratios, indent=1))
    for theme, measured in ratios.items():
        low = {part: ratio for part, ratio in measured.items() if ratio < 4.5}
        assert not low, f"{theme}: contrast below 4.5 for {low} (all: {measured})"
    for suffix in ("", "-dark"):  # docs/'s pictures (scripts/screenshots.py)
        size = (artifacts / f"panel{suffix}.png").stat().st_size
        assert size <= DOCS_LIMIT, f"panel{suffix}.png is {size} bytes, over the docs limit"
    print(f"contrast ratios: {ratios}")


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_html_and_script_links_in_the_panel_show_as_text_and_never_run(
    page, jupyter: JupyterServer, alarms: list[str], ui: str
) -> None:
    img = PAYLOAD.split("\n\n")[1].replace("=1", "='control'")
    name = f"panel-hostile-{ui}.ipynb"
    jupyter.write_notebook(
        name,
        panel_cell(text=PAYLOAD, rate=40),  # streams for about half a second: partial tags too
        f"from IPython.display import HTML\nHTML({img!r})",
    )
    nb = Notebook(page, jupyter, name, ui=ui).open(cells=2)
    nb.run_and_wait(0)
    panel = Panel(nb, 0)
    hostile_prompt = '<img src=x onerror="window.__nbstream_pwned=1"> [me](javascript:alert(1))'
    panel.send(hostile_prompt)
    final = panel.wait_for_reply(1)
    assert stats_footer(final)["ending"] == "finished", final["stats"]

    messages = panel.root.locator(".nbstream-list")
    assert messages.locator("img, iframe, script, object, embed, svg, form").count() == 0
    assert messages.locator("a").count() == 0, messages.locator("a").evaluate_all(
        "(links) => links.map((a) => a.outerHTML)"
    )
    assert flat(final["reply"]) == flat(SHOWN), final["reply"]
    assert final["users"] == [hostile_prompt.replace("[me](javascript:alert(1))", "me")]
    messages.get_by_text("click", exact=True).click()

    # The saved transcript carries the same text; JupyterLab renders it as Markdown.
    details = panel.transcript()
    details.locator("summary").click()
    assert details.locator("img, iframe, script, object, embed, svg, form").count() == 0
    assert details.locator('a[href^="javascript"]').count() == 0
    assert "window.__nbstream_pwned" in details.inner_text()
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__nbstream_pwned") == "undefined"
    assert alarms == [], f"script ran: {alarms}"

    # The control: the same <img> as a raw HTML output does run, so the tripwire works.
    nb.run_and_wait(1)
    page.wait_for_function("() => window.__nbstream_pwned === 'control'", timeout=30_000)
    assert alarms and all(not a.startswith("dialog") for a in alarms), alarms


def test_a_message_typed_while_a_cell_runs_is_sent_whole_without_comm_subshells(
    page, jupyter: JupyterServer, tmp_path: Path
) -> None:
    # Without comms over subshells (JupyterLab before 4.4, kernels without subshells such as
    # ipykernel 6, or the setting off), comm messages wait for the running cell; the panel
    # says so instead of looking dead.
    previous = jupyter.api("GET", KERNEL_SETTINGS)["raw"]
    jupyter.api("PUT", KERNEL_SETTINGS, {"raw": json.dumps({"commsOverSubshells": "disabled"})})
    # The cell runs until the test has typed, seen the notice and sent again: all of it happens
    # while the cell runs, however long the steps take.
    release = tmp_path / "release"
    try:
        jupyter.write_notebook(
            "panel-typed.ipynb", panel_cell(tokens=5, rate=0), sleep_until(release)
        )
        nb = Notebook(page, jupyter, "panel-typed.ipynb").open(cells=2)
        nb.run_and_wait(0)
        panel = Panel(nb, 0)
        assert panel.read()["busy"] == ""
        nb.run(1)
        page.wait_for_function(
            "(cell) => cell.querySelector('.jp-InputPrompt').innerText.trim() === '[*]:'",
            arg=nb.cell(1).element_handle(),
        )
        panel.box.click()
        page.keyboard.type("Typed while the cell runs.", delay=20)
        page.keyboard.press("Enter")
        page.wait_for_function(
            "([panel, read]) => eval(read)(panel).busy.includes('busy running a cell')",
            arg=[panel.root.element_handle(), _READ_PANEL],
            timeout=30_000,
        )
        waiting = panel.read()
        assert nb.read(1)["prompt"] == "[*]:", "the notice came after the cell had ended"
        panel.send("A second message, before the first reached the kernel.")  # kept, unsent
        release.touch()
        assert not nb.wait_done(1)["errors"], "the cell ended before the test released it"
        shown = panel.wait_for_reply(1)
    finally:
        release.touch()  # a failed test does not leave the kernel sleeping
        jupyter.api("PUT", KERNEL_SETTINGS, {"raw": previous})
    assert "will be sent when it finishes" in waiting["busy"], waiting
    assert waiting["users"] == [] and waiting["send"], waiting  # nothing reached the kernel yet
    assert (shown["users"], shown["box"], shown["busy"]) == (
        ["Typed while the cell runs."],
        "A second message, before the first reached the kernel.",
        "",
    ), shown
