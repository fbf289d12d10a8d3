"""Fixtures for the browser tier: a Jupyter server, headless Chromium, and notebook pages.

One Jupyter server (JupyterLab 4 with the Notebook 7 frontend, both served by the same
`jupyter lab` process) runs for the session on a free loopback port, with a temporary root,
workspace, settings, runtime and IPython directories, and the model settings pointing at an
`OfflineServer` in this process (so tests can read its request log). Playwright drives
Debian's Chromium; nothing is downloaded. Screenshots, the server log and failure pictures go to
the artifacts directory (`NBSTREAM_E2E_ARTIFACTS`, else a directory under pytest's basetemp).

Missing pieces (Chromium, Playwright, JupyterLab, Notebook) fail the tests with the install
command: CI installs them, so a silent skip would hide a broken tier.

Modules: test_lab.py (issue 7 §1-4 and the theme pictures), test_notebook7.py,
test_insert_lab.py (`--insert`'s new cell); the chat panel
(§5) gets test_panel.py, on the same `jupyter`, `offline`, `page` and `alarms` fixtures, with
`Notebook` for the cell that sleeps while the panel streams.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest

from nbstream.offline.server import OfflineServer

from ..kernels import clean_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = os.environ.get("NBSTREAM_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = (
    "the browser tier needs Debian's Chromium and the e2e extra: "
    "`apt-get install -y chromium` and `pip install -e '.[e2e]'` (.ci/run does both)"
)
API_KEY = "sk-test-e2e-0123456789abcdef"
MODEL = "nbstream-demo"
IOPUB_LIMIT = "IOPub message rate exceeded"
#: JupyterLab user settings for the session: no news or update pop-ups over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# What a cell shows, read in the page. The nbstream reply is the text/markdown output (a long
# one goes on in more of them); the last one ends with the line under the reply, led by its
# badges: the status line while streaming (badge "streaming", ...), then the footer. `last` is
# that line without its badges, `badges` their words.
_READ_CELL = """(cell) => {
  const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
  const mds = outputs.filter((o) => o.getAttribute('data-mime-type') === 'text/markdown');
  let reply = null, last = null, badges = [];
  if (mds.length) {
    const blocks = mds.flatMap((md) => [...md.children]);
    const tail = blocks[blocks.length - 1];
    if (tail && tail.classList.contains('nbstream-footer')) {
      const marks = [...tail.querySelectorAll('.nbstream-badge')];
      badges = marks.map((b) => b.innerText.trim());
      last = [...tail.childNodes].filter((n) => !marks.includes(n))
        .map((n) => n.textContent).join('').trim();
      blocks.pop();
    }
    reply = blocks.map((b) => b.innerText).join('\\n');
  }
  const prompt = cell.querySelector('.jp-InputPrompt');
  return {
    prompt: prompt ? prompt.innerText.trim() : '',
    text: outputs.map((o) => o.innerText).join('\\n'),
    reply: reply,
    last: last,
    badges: badges,
    errors: outputs  // tracebacks and stderr both render as this type
      .filter((o) => o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr')
      .map((o) => o.innerText).join('\\n'),
  };
}"""

# Samples a cell's output every 100 ms in the page (independent of this process's pace) and
# keeps each distinct state with its time.
_START_SAMPLER = """([cell, read]) => {
  const readCell = eval(read);
  const states = [];
  const t0 = performance.now();
  const sample = () => {
    const s = readCell(cell);
    const prev = states[states.length - 1];
    if (!prev || prev.reply !== s.reply || prev.last !== s.last) {
      states.push({t: (performance.now() - t0) / 1000, reply: s.reply, last: s.last,
                   badges: s.badges});
    }
  };
  const timer = setInterval(sample, 100);
  window.__nbstream_sampler = {states, stop: () => { clearInterval(timer); sample(); }};
}"""

# Any code that sets window.__nbstream_pwned, in any frame, reports to the test at once.
_TRIPWIRE = """(() => {
  let value;
  Object.defineProperty(window, '__nbstream_pwned', {
    configurable: false,
    get() { return value; },
    set(v) {
      value = v;
      try { window.__nbstream_alarm(String(location.href)); } catch (e) {}
    },
  });
})();"""


FOOTER = re.compile(
    rf"^{re.escape(MODEL)} · (?P<approx>≈?)\d+ → ≈?(?P<tokens>\d+) tokens \(≈?\d+\) · "
    r"first token [\d.]+ s"
    r"( · [\d.]+ tok/s)? · total [\d.]+ s( · (?P<ending>.+))?$"
)
#: The status line of a streaming reply, after its badge.
STATUS = re.compile(r"^(?P<tokens>\d+) tokens? · ")
#: The badges of a reply on its way; every other badge is final.
LIVE = ("waiting", "thinking", "streaming")


def chat_cell(prompt: str, **server_options: object) -> str:
    """A `%%chat` cell whose reply the offline server shapes with `server_options`."""
    return f"%%chat -p nbstream={shlex.quote(json.dumps(server_options))}\n{prompt}"


def flat(text: str) -> str:
    """Text with its whitespace collapsed: Markdown keeps words, not line breaks."""
    return " ".join(text.split())


def footer(state: dict[str, Any]) -> dict[str, str]:
    """The footer under a finished reply, parsed: `tokens`, `approx`, and `ending` (why it
    stopped, which is the status badge's word when it says no more); fails without one."""
    match = FOOTER.match(state["last"] or "")
    assert match, f"no footer under the reply: {state['last']!r}"
    assert state["badges"] and state["badges"][0] not in LIVE, state["badges"]
    return {**match.groupdict(), "ending": match["ending"] or state["badges"][0]}


def live(state: dict[str, Any]) -> bool:
    """Whether a state shows a reply on its way (a live badge), not a finished one."""
    return bool(state.get("badges")) and state["badges"][0] in LIVE


def assert_grows_in_place(states: list[dict[str, Any]], final: dict[str, Any], least: int) -> None:
    """Distinct growing states with a status line, each a prefix of the final reply."""
    streaming = [s for s in states if s["reply"] and s["badges"] == ["streaming"]]
    replies = [flat(s["reply"]) for s in streaming]
    assert len(set(replies)) >= least, f"only {len(set(replies))} states seen: {states}"
    for before, after in itertools.pairwise([*replies, flat(final["reply"])]):
        assert after.startswith(before), f"the reply shrank or changed: {before!r} → {after!r}"
    counts = [int(STATUS.match(s["last"])["tokens"]) for s in streaming]  # type: ignore[index]
    assert counts == sorted(counts), f"the token count went back: {counts}"
    # The footer replaces the status line only once the reply is complete.
    finished = [s for s in states if s["badges"] and not live(s)]
    assert all(flat(s["reply"]) == flat(final["reply"]) for s in finished), finished


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require() -> None:
    missing = []
    for module in ("playwright", "jupyterlab", "notebook"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"Python package {module!r}")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        missing.append(f"Chromium at {CHROMIUM} (NBSTREAM_E2E_CHROMIUM overrides)")
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: {INSTALL}", pytrace=False)


class JupyterServer:
    """`jupyter lab` on a free loopback port with everything in a temporary directory."""

    def __init__(self, base: Path, offline: OfflineServer, artifacts: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.settings = base / "settings"
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = artifacts / "jupyter-server.log"
        for sub in ("root", "workspaces", "runtime", "config", "ipython", "home"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        for name, values in LAB_SETTINGS.items():
            path = self.settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.env = clean_env(
            OPENAI_BASE_URL=offline.url,
            OPENAI_API_KEY=API_KEY,
            NBSTREAM_MODEL=MODEL,
            HOME=str(base / "home"),
            IPYTHONDIR=str(base / "ipython"),
            JUPYTER_CONFIG_DIR=str(base / "config"),
            JUPYTER_RUNTIME_DIR=str(base / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.settings),
            JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
            PYTHONUNBUFFERED="1",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> JupyterServer:
        argv = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.workspaces_dir={self.base / 'workspaces'}",
            f"--LabApp.user_settings_dir={self.settings}",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"jupyter lab exited early:\n{self.log_tail()}", pytrace=False)
            try:
                self.api("GET", "/api/status", timeout=1)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        pytest.fail(f"jupyter lab did not answer in {timeout} s:\n{self.log_tail()}", pytrace=False)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # SIGTERM lets the server shut its kernels down; they run in their own sessions.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        """A REST call to the server, authenticated with the token; the decoded JSON or None."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def shutdown_kernels(self) -> None:
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def write_notebook(self, name: str, *sources: str) -> Path:
        """Write a notebook of code cells (Markdown cells for sources starting with '# ')."""
        cells = [
            nbformat.v4.new_markdown_cell(s) if s.startswith("# ") else nbformat.v4.new_code_cell(s)
            for s in sources
        ]
        nb = nbformat.v4.new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        path = self.root / name
        nbformat.write(nb, path)
        return path

    def read_notebook(self, name: str) -> Any:
        return nbformat.read(self.root / name, as_version=4)


class Notebook:
    """A notebook open in JupyterLab (`ui="lab"`) or Notebook 7 (`ui="notebook"`)."""

    def __init__(self, page: Page, server: JupyterServer, name: str, ui: str = "lab") -> None:
        self.page, self.server, self.name, self.ui = page, server, name, ui

    @property
    def address(self) -> str:
        # Lab restores a workspace's open documents: one workspace per notebook keeps the
        # notebooks of earlier tests (and their kernels) out of this page.
        stem = Path(self.name).stem
        where = f"lab/workspaces/{stem}/tree" if self.ui == "lab" else "notebooks"
        return f"{self.server.url}/{where}/{self.name}?token={self.server.token}"

    def open(self, cells: int) -> Notebook:
        """Go to the notebook and wait until its `cells` cells show and the kernel is idle."""
        self.page.goto(self.address)
        self.wait_loaded(cells)
        return self

    def wait_loaded(self, cells: int, timeout: float = 60) -> None:
        page = self.page
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.dismiss_kernel_dialog()
            # The indicator says "idle" before the kernel exists too: first make sure that the
            # page's websocket to the kernel is up, then wait for the idle after kernel_info.
            if self.cells().count() == cells and self.kernel_connected() and self.kernel_idle():
                return
            page.wait_for_timeout(100)
        raise AssertionError(
            f"{self.name}: {self.cells().count()} of {cells} cells after {timeout} s, kernel "
            f"status {self.kernel_status()!r}"
        )

    def dismiss_kernel_dialog(self) -> None:
        """Accept a kernel-selection dialog (Python 3 is preselected) if one is up."""
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count() and "kernel" in dialog.inner_text().lower():
            dialog.locator(".jp-Dialog-button.jp-mod-accept").click()

    def cells(self) -> Locator:
        return self.page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")

    def cell(self, index: int) -> Locator:
        return self.cells().nth(index)

    def kernel_status(self) -> str | None:
        indicator = self.page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator")
        return indicator.first.get_attribute("data-status") if indicator.count() else None

    def kernel_connected(self) -> bool:
        """Whether the server has this notebook's kernel with a websocket connected to it."""
        sessions = self.server.api("GET", "/api/sessions")
        kernels = [s["kernel"] for s in sessions if s["path"] == self.name and s.get("kernel")]
        return bool(kernels) and kernels[0].get("connections", 0) >= 1

    def kernel_idle(self) -> bool:
        return self.kernel_status() == "idle"

    def read(self, index: int) -> dict[str, Any]:
        """The cell's prompt, output text, nbstream reply and last line, and error text."""
        return self.cell(index).evaluate(_READ_CELL)

    def run(self, index: int) -> None:
        """Run a cell with Shift+Enter from its editor, as a user would."""
        self.cell(index).locator(".cm-content").click()
        self.page.keyboard.press("Shift+Enter")

    def wait_done(self, index: int, timeout: float = 60) -> dict[str, Any]:
        """Wait until a cell run for the first time has its execution count and the kernel is
        idle; what the cell shows then (see `read`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.read(index)
            if re.fullmatch(r"\[\d+\]:", state["prompt"]) and self.kernel_idle():
                return state
            self.page.wait_for_timeout(50)
        raise AssertionError(f"cell {index} still running after {timeout} s: {self.read(index)}")

    def run_and_wait(self, index: int, timeout: float = 60) -> dict[str, Any]:
        """Run a cell that must succeed: no traceback or stderr; what the cell shows then."""
        self.run(index)
        state = self.wait_done(index, timeout)
        assert not state["errors"], f"cell {index} failed:\n{state['errors']}"
        return state

    #: The page function that reads a cell (see `read`), for page-side waits: `eval(read)(cell)`.
    read_source = _READ_CELL

    def start_sampler(self, index: int) -> None:
        """Record the cell's distinct output states every 100 ms, in the page."""
        self.cell(index).evaluate(
            "(cell, read) => (" + _START_SAMPLER + ")([cell, read])", _READ_CELL
        )

    def stop_sampler(self) -> list[dict[str, Any]]:
        """Stop sampling; the states seen, oldest first, each with its time `t` in seconds."""
        return self.page.evaluate(
            "() => { window.__nbstream_sampler.stop(); return window.__nbstream_sampler.states; }"
        )

    def toolbar_button(self, command: str) -> Locator:
        """The notebook toolbar's button for a command, e.g. notebook:interrupt-kernel (■)."""
        return self.page.locator(
            f'.jp-NotebookPanel:visible .jp-NotebookPanel-toolbar [data-command="{command}"]'
        )

    def set_theme(self, theme: str) -> None:
        """Pick a theme from Settings > Theme and wait until the page wears it."""
        page = self.page
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Settings$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Theme$")).click()
        item = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(theme)}$"))
        item.click()
        page.wait_for_function(
            "(name) => document.body.dataset.jpThemeName === name", arg=theme, timeout=30_000
        )
        page.wait_for_timeout(300)  # the new stylesheet's first paint

    def page_text(self) -> str:
        return self.page.locator("body").inner_text()

    def save(self, timeout: float = 30) -> None:
        """Save with Ctrl+S; returns once the file on disk changed and the tab is clean."""
        path = self.server.root / self.name
        before = path.stat().st_mtime_ns
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + timeout
        while path.stat().st_mtime_ns == before or self.page.locator(".jp-mod-dirty").count():
            assert time.monotonic() < deadline, f"{self.name} not saved after {timeout} s"
            self.page.wait_for_timeout(50)

    def kernel_id(self) -> str:
        sessions = self.server.api("GET", "/api/sessions")
        ids = [s["kernel"]["id"] for s in sessions if s["path"].endswith(self.name)]
        assert ids, f"no session for {self.name}: {sessions}"
        return ids[0]

    def screenshot(self, locator: Locator, path: Path) -> Path:
        locator.screenshot(path=str(path), animations="disabled")
        return path


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tier keeps screenshots and logs."""
    given = os.environ.get("NBSTREAM_E2E_ARTIFACTS")
    path = Path(given) if given else tmp_path_factory.getbasetemp() / "e2e-artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def offline() -> Iterator[OfflineServer]:
    """The offline model server the kernels talk to; per-request pace via nbstream options."""
    with OfflineServer(rate=100, first_token_delay=0.05) as srv:
        yield srv


@pytest.fixture(scope="session")
def jupyter(
    offline: OfflineServer, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> Iterator[JupyterServer]:
    """JupyterLab 4 (and Notebook 7 at /notebooks/) for the session."""
    _require()
    server = JupyterServer(tmp_path_factory.mktemp("jupyter"), offline, artifacts).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium with a fresh temporary profile."""
    _require()
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
        except Error as err:
            pytest.fail(f"Chromium at {CHROMIUM} did not start: {err}\n{INSTALL}", pytrace=False)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def alarms() -> list[str]:
    """Every write to `window.__nbstream_pwned` (in any frame) and every JS dialog, in order."""
    return []


def _page(
    browser: Browser,
    jupyter: JupyterServer,
    offline: OfflineServer,
    artifacts: Path,
    alarms: list[str],
    request: pytest.FixtureRequest,
    scale: float,
) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, device_scale_factor=scale
    )
    context.expose_function("__nbstream_alarm", lambda where: alarms.append(str(where)))
    context.add_init_script(_TRIPWIRE)
    page = context.new_page()
    page.on("dialog", lambda dialog: (alarms.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.set_default_timeout(30_000)
    offline.log.clear()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = re.sub(r"\W+", "-", request.node.name)
            page.screenshot(path=str(artifacts / f"FAILED-{name}.png"), full_page=True)
        context.close()
        jupyter.shutdown_kernels()  # idle kernels of finished tests would only cost CPU


@pytest.fixture
def page(
    browser: Browser,
    jupyter: JupyterServer,
    offline: OfflineServer,
    artifacts: Path,
    alarms: list[str],
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    """A fresh browser context and page; the request log of `offline` is cleared."""
    yield from _page(browser, jupyter, offline, artifacts, alarms, request, scale=1)


@pytest.fixture
def hidpi_page(
    browser: Browser,
    jupyter: JupyterServer,
    offline: OfflineServer,
    artifacts: Path,
    alarms: list[str],
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    """Like `page`, at two device pixels per CSS pixel: sharp screenshots for the docs."""
    yield from _page(browser, jupyter, offline, artifacts, alarms, request, scale=2)
