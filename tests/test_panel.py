"""The chat panel: driven in this process through its widgets, then in real kernels.

The fast tests use ipywidgets without a frontend: widgets are created, clicked and read
directly. The kernel tests drive the panel as a browser would, with comm messages, and
read what the browser would get on IOPub.
"""

from __future__ import annotations

import html
import io
import os
import queue
import re
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import nbclient
import nbformat
import pytest

from nbstream.engine.result import Status
from nbstream.errors import ThreadBusyError
from nbstream.offline.server import OfflineServer
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.show import panel_html as _panel_html
from nbstream.show.live import driver
from nbstream.show.panel import ChatPanel, PanelState
from nbstream.show.surfaces import TerminalSurface
from nbstream.turn import TurnOptions

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

pytestmark = pytest.mark.timeout(60)
NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "panel.ipynb"
_OURS = ("OPENAI_", "AZURE_OPENAI_", "NBSTREAM_")


def opts(**server_options: Any) -> dict[str, Any]:
    """Request params carrying options for the offline server."""
    return {"nbstream": server_options}


def find(root: widgets.Widget, css_class: str) -> list[widgets.Widget]:
    """The widgets under `root` with a CSS class, in display order (as a browser finds them)."""
    found = [root] if css_class in getattr(root, "_dom_classes", ()) else []
    for child in getattr(root, "children", ()):
        found += find(child, css_class)
    return found


def text(widget: widgets.Widget) -> str:
    """What a message widget shows, as text."""
    if isinstance(widget, widgets.Box):
        return " ".join(text(child) for child in widget.children)
    return html.unescape(re.sub(r"<[^>]+>", "", getattr(widget, "value", "")))


def reply(panel: ChatPanel) -> widgets.HTML:
    return find(panel.widget, "nbstream-assistant")[-1]


def stats(panel: ChatPanel) -> str:
    return text(find(panel.widget, "nbstream-stats")[-1])


def click(panel: ChatPanel, css_class: str) -> None:
    find(panel.widget, css_class)[-1].click()


def eventually(predicate: Callable[[], bool], timeout: float = HANG) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def session(server: OfflineServer, log, monkeypatch) -> Session:
    for name in list(os.environ):
        if name.startswith(_OURS):
            monkeypatch.delenv(name)
    config = NbStream(
        base_url=server.url, model="nbstream-demo", max_retries=0, first_token_timeout=10
    )
    return Session(config)


@pytest.fixture
def make_panel(session: Session) -> Iterator[Callable[..., ChatPanel]]:
    panels: list[ChatPanel] = []

    def make(thread: str = "default", **kwargs: Any) -> ChatPanel:
        kwargs.setdefault("session", session)
        panel = ChatPanel(thread, **kwargs)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.close()


# ---- in this process


def test_send_returns_at_once_and_the_reply_grows_then_shows_its_stats(make_panel, log) -> None:
    panel = make_panel(params=opts(tokens=40, rate=40))
    panel.send("Hello")
    assert panel.state is PanelState.STREAMING  # returned before the reply: it takes 1 s
    assert not log.records or log.records[-1].outcome == "pending"
    assert find(panel.widget, "nbstream-send")[0].disabled
    assert not find(panel.widget, "nbstream-stop")[0].disabled
    seen: list[str] = []
    reply(panel).observe(lambda change: seen.append(change["new"]), "value")
    assert "streaming the first reply" in text(find(panel.widget, "nbstream-header")[0])
    assert eventually(lambda: re.match(r"streaming \d+ tokens? · ", stats(panel)) is not None)
    result = panel.wait(HANG)
    assert result is not None and result.status is Status.COMPLETE
    lengths = [len(value) for value in seen]
    assert len(seen) >= 5 and lengths == sorted(lengths)  # it grew, visibly, in steps
    assert result.text.split()[-1] in text(reply(panel))
    assert stats(panel).startswith("finished ") and "40 tokens" in stats(panel)
    assert "tok/s" in stats(panel)
    assert "streaming" not in stats(panel)
    assert "nbstream-streaming" not in reply(panel)._dom_classes
    assert panel.state is PanelState.IDLE
    assert not find(panel.widget, "nbstream-send")[0].disabled
    assert find(panel.widget, "nbstream-stop")[0].disabled
    assert "1 request" in text(find(panel.widget, "nbstream-header")[0])
    assert [ex.user for ex in panel.session.store.thread("default").exchanges] == ["Hello"]


def test_enter_in_the_message_box_sends_it_and_clears_it(make_panel, log) -> None:
    panel = make_panel(params=opts(text="Fine, thanks."))
    box = find(panel.widget, "nbstream-input")[0]
    box.value = "  How are you?  "
    box.submit()  # what the box's JavaScript does on Enter without Shift
    assert box.value == ""
    assert panel.wait(HANG).text == "Fine, thanks."
    assert log.records[-1].body["messages"][-1] == {"role": "user", "content": "How are you?"}
    box.submit()  # an empty box sends nothing
    assert panel.state is PanelState.IDLE and len(log.records) == 1


def test_stop_before_the_first_token_disconnects_and_keeps_nothing(make_panel, log) -> None:
    panel = make_panel(params=opts(first_token_delay=30))
    panel.send("Hello?")
    assert log.wait_for(lambda r: bool(r), HANG)
    click(panel, "nbstream-stop")
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)  # not the 30 s delay
    assert log.records[-1].chunks_sent == 0
    assert panel.state is PanelState.IDLE and panel.last is None
    assert panel.session.store.thread("default").exchanges == []
    assert "nothing kept" in text(find(panel.widget, "nbstream-error")[0])
    assert find(panel.widget, "nbstream-assistant") == []  # no empty reply left behind
    assert not find(panel.widget, "nbstream-send")[0].disabled
    panel.params = opts(text="Here now.")
    click(panel, "nbstream-retry")  # the thread was released: a new turn runs
    assert panel.wait(HANG).text == "Here now."


def test_stop_after_the_first_token_keeps_the_partial_reply_as_interrupted(make_panel, log) -> None:
    panel = make_panel(params=opts(tokens=400, rate=50))
    panel.send("Tell me a long story")
    assert eventually(lambda: len(text(reply(panel))) > 40)
    assert panel.stop()
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert log.records[-1].chunks_sent < 400
    kept = panel.session.store.thread("default").exchanges[-1].result
    assert kept.status is Status.INTERRUPTED and kept.text
    assert panel.last == kept
    assert f"interrupted after {kept.usage.completion_tokens} tokens" in stats(panel)
    assert kept.text.split()[-1] in text(reply(panel))  # the final update shows all that is kept


def test_an_error_shows_inline_with_a_retry_that_works(make_panel, log, fault_key) -> None:
    panel = make_panel(params=opts(fail_status=503, fail_times=1, key=fault_key))
    panel.send("Hello")
    assert panel.wait(HANG) is None
    error = find(panel.widget, "nbstream-error")
    assert len(error) == 1
    assert "503 from" in text(error[0]) and "hint: the server is failing" in text(error[0])
    assert panel.state is PanelState.IDLE and panel.session.store.thread("default").exchanges == []
    click(panel, "nbstream-retry")
    result = panel.wait(HANG)
    assert result is not None and result.status is Status.COMPLETE
    assert find(panel.widget, "nbstream-error") == []
    assert len(find(panel.widget, "nbstream-user")) == 1  # the failed attempt was replaced
    assert [r.outcome for r in log.records] == ["error", "complete"]


def test_two_panels_stream_at_once_on_two_threads(make_panel, log) -> None:
    first, second = (make_panel(t, params=opts(tokens=40, rate=40)) for t in ("a", "b"))
    first.send("one")
    second.send("two")
    # Both streaming at once: each reply takes 1 s, so this cannot hold if they ran in turn.
    assert log.wait_for(lambda r: [x.outcome for x in r] == ["pending", "pending"], HANG)
    assert first.wait(HANG).status is Status.COMPLETE
    assert second.wait(HANG).status is Status.COMPLETE
    store = first.session.store
    assert [e.user for e in store.thread("a").exchanges] == ["one"]
    assert [e.user for e in store.thread("b").exchanges] == ["two"]


def test_a_second_turn_on_a_streaming_thread_is_refused(make_panel, log) -> None:
    panel = make_panel("t", params=opts(tokens=400, rate=40))  # 10 s: still streaming below
    other = make_panel("t")
    panel.send("first")
    with pytest.raises(ThreadBusyError):
        panel.send("second")
    assert find(panel.widget, "nbstream-send")[0].disabled
    # The first turn holds the thread once its request is out (it prepares off the loop first).
    assert log.wait_for(lambda r: len(r) == 1 and r[0].chunks_sent > 0, HANG)
    other.send("from another panel")
    assert other.wait(HANG) is None
    assert "already streaming on thread 't'" in text(find(other.widget, "nbstream-error")[0])
    assert log.records[-1].outcome == "pending"
    assert panel.stop()
    assert panel.wait(HANG).status is Status.INTERRUPTED
    assert len(log.records) == 1
    assert [e.user for e in panel.session.store.thread("t").exchanges] == ["first"]


@pytest.mark.parametrize("close", [ChatPanel.close, lambda panel: panel.widget.close()])
def test_closing_the_panel_mid_stream_cancels_its_stream(make_panel, log, close) -> None:
    panel = make_panel(params=opts(tokens=400, rate=50))
    panel.send("Hello")
    assert eventually(lambda: len(text(reply(panel))) > 20)
    close(panel)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert panel.state is PanelState.CLOSED and panel.widget.comm is None
    assert panel.session.store.thread("default").exchanges[-1].status is Status.INTERRUPTED
    with pytest.raises(Exception, match="closed"):
        panel.send("again")


def test_cells_and_panels_on_one_thread_are_one_conversation(make_panel, log) -> None:
    panel_session = make_panel("shared").session  # the first panel starts empty
    panel_session.chat(
        "What is 2+2?",
        TurnOptions(thread="shared", params=opts(text="Four.")),
        driver(TerminalSurface(io.StringIO())),
    )
    panel = make_panel("shared", params=opts(text="Eight."))
    shown = find(panel.widget, "nbstream-exchange")
    assert len(shown) == 1 and "What is 2+2?" in text(shown[0]) and "Four." in text(shown[0])
    panel.send("And doubled?")
    assert panel.wait(HANG).text == "Eight."
    assert [m["content"] for m in log.records[-1].body["messages"]] == [
        "What is 2+2?",
        "Four.",
        "And doubled?",
    ]
    sent_by_a_cell = panel_session.store.messages("shared", "next")
    assert [m["content"] for m in sent_by_a_cell][-3:] == ["And doubled?", "Eight.", "next"]
    first = make_panel("shared")
    assert len(find(first.widget, "nbstream-exchange")) == 2  # a new panel shows it all
    first.refresh()
    assert len(find(first.widget, "nbstream-exchange")) == 2


def test_new_chat_clears_the_thread_but_keeps_its_system_prompt(make_panel, log) -> None:
    panel = make_panel("n", system="Answer in French.", params=opts(text="Bonjour."))
    panel.send("Hello")
    panel.wait(HANG)
    assert log.records[-1].body["messages"][0] == {
        "role": "system",
        "content": "Answer in French.",
    }
    click(panel, "nbstream-new")
    store = panel.session.store
    assert store.thread("n").exchanges == [] and store.thread("n").system == "Answer in French."
    assert find(panel.widget, "nbstream-message") == []
    panel.send("Again")
    panel.wait(HANG)
    assert [m["role"] for m in log.records[-1].body["messages"]] == ["system", "user"]


def test_temperature_and_model_go_into_the_request_only_when_chosen(make_panel, log) -> None:
    panel = make_panel()
    panel.send("one")
    panel.wait(HANG)
    assert "temperature" not in log.records[-1].body
    find(panel.widget, "nbstream-temperature")[0].value = 0.3
    find(panel.widget, "nbstream-model")[0].value = "fault-length"
    panel.send("two")
    result = panel.wait(HANG)
    assert log.records[-1].body["temperature"] == 0.3
    assert log.records[-1].model == "fault-length" and result.finish_reason == "length"
    assert "max tokens reached" in stats(panel)


def test_the_model_selector_offers_the_servers_models(make_panel) -> None:
    selector = find(make_panel().widget, "nbstream-model")[0]
    assert selector.placeholder == "nbstream-demo"
    assert eventually(
        lambda: "nbstream-demo" in selector.options and "fault-slow" in selector.options
    )


def test_the_header_keeps_running_totals(make_panel) -> None:
    panel = make_panel(params=opts(tokens=10, rate=200))
    for prompt in ("one", "two"):
        panel.send(prompt)
        panel.wait(HANG)
    header = text(find(panel.widget, "nbstream-header")[0])
    assert "2 requests" in header and "tokens" in header and "tok/s" in header


def test_wait_with_a_timeout_raises_while_the_reply_streams(make_panel, log) -> None:
    panel = make_panel(params=opts(first_token_delay=30))
    panel.send("Hello")
    with pytest.raises(TimeoutError):
        panel.wait(timeout=0.3)
    assert panel.state is PanelState.STREAMING and log.records[-1].outcome == "pending"
    panel.stop()


def test_updates_are_coalesced_to_about_ten_a_second(make_panel) -> None:
    panel = make_panel(params=opts(tokens=3000, rate=0))
    started = time.monotonic()
    panel.send("Go fast")
    changes: list[str] = []
    reply(panel).observe(lambda change: changes.append(change["new"]), "value")
    result = panel.wait(HANG)
    # The span encloses every update the throttle timed, so load only loosens the bound.
    span = time.monotonic() - started
    assert result.usage.completion_tokens == 3000
    assert len(changes) <= 10 * span + 2, (len(changes), span)
    assert result.text.split()[-1] in text(reply(panel))  # the final update came


class _ActiveParts(HTMLParser):
    """Collects the tags and attributes of an HTML fragment, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<iframe src="http://example.com"></iframe>',
    "[x](javascript:alert(1))",
    "[x](JavaScript:alert(1))",
    "[x]( vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![](http://example.com/t.png)",
    "![t][ref]\n\n[ref]: http://example.com/t.png",
    "<javascript:alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "```html\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_model_output_cannot_run_script_or_load_content(attack: str) -> None:
    for rendered in (_panel_html.render_markdown(attack), _panel_html.user_html(attack)):
        parser = _ActiveParts()
        parser.feed(rendered)
        for tag, attrs in parser.tags:
            assert tag not in {"script", "img", "iframe", "svg", "object", "embed", "style"}
            assert not any(name.startswith("on") or name == "src" for name in attrs)
            href = (attrs.get("href") or "").lower()
            assert not re.match(r"\s*(javascript|vbscript|data):", href), rendered
            if tag == "a":
                assert attrs["target"] == "_blank" and "noopener" in (attrs["rel"] or "")


def test_markdown_still_renders_as_markdown() -> None:
    rendered = _panel_html.render_markdown(
        "**bold** [site](https://example.com) `a<b`\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<strong>bold</strong>" in rendered and "<table>" in rendered
    assert '<a href="https://example.com" target="_blank"' in rendered
    assert "<code>a&lt;b</code>" in rendered


# ---- in real kernels


class Frontend:
    """What a browser would hold for a kernel: widget states built from IOPub comm messages."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.state: dict[str, dict[str, Any]] = {}
        self.updates: list[tuple[int, str, dict[str, Any]]] = []  # (index in messages, ...)
        self.messages: list[dict[str, Any]] = []  # every IOPub message, in the order sent

    def execute(self, code: str, timeout: float = 30) -> dict[str, Any]:
        """Run a cell, taking in every IOPub message until it is idle; its own outputs."""
        msg_id = self.kernel.start(code)
        outputs: dict[str, Any] = {"msg_id": msg_id, "outputs": []}
        while True:
            msg = self.take(timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":  # indexes of busy and idle: the cell ran between
                outputs[msg["content"]["execution_state"]] = len(self.messages) - 1
                if msg["content"]["execution_state"] == "idle":
                    return outputs
            if msg["msg_type"] in ("execute_result", "display_data", "stream", "error"):
                outputs["outputs"].append(msg)

    def take(self, timeout: float = 10) -> dict[str, Any]:
        """The next IOPub message, folded into the widget states."""
        msg = self.kernel.client.get_iopub_msg(timeout=timeout)
        content = msg["content"]
        self.messages.append(msg)
        if msg["msg_type"] == "comm_open":
            self.state[content["comm_id"]] = dict(content["data"]["state"])
        elif msg["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
            self.state.setdefault(content["comm_id"], {}).update(content["data"]["state"])
            at = len(self.messages) - 1
            self.updates.append((at, content["comm_id"], content["data"]["state"]))
        return msg

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.take(left)
            except queue.Empty:
                return

    def with_class(self, css_class: str) -> list[str]:
        return [cid for cid, s in self.state.items() if css_class in s.get("_dom_classes", ())]

    def send(self, comm_id: str, data: dict[str, Any]) -> None:
        """A comm message from the browser to a widget."""
        client = self.kernel.client
        client.shell_channel.send(
            client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        )

    def click(self, comm_id: str) -> None:
        self.send(comm_id, {"method": "custom", "content": {"event": "click"}})

    def type_and_enter(self, comm_id: str, message: str) -> None:
        self.send(comm_id, {"method": "update", "state": {"value": message}, "buffer_paths": []})
        self.send(comm_id, {"method": "custom", "content": {"event": "submit"}})


@pytest.fixture(scope="module")
def kernel(server: OfflineServer, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("panel-kernel"))
    started.execute("%load_ext nbstream\nfrom nbstream.show.panel import ChatPanel")
    yield started
    started.shutdown()


@pytest.fixture
def frontend(kernel: Kernel) -> Frontend:
    return Frontend(kernel)


def plain_outputs(run: dict[str, Any]) -> str:
    return "\n".join(m["content"].get("data", {}).get("text/plain", "") for m in run["outputs"])


@pytest.mark.kernel
def test_cells_run_while_the_panel_streams_and_it_advances_while_a_cell_blocks(
    frontend: Frontend, log
) -> None:
    frontend.execute("p1 = ChatPanel('k1', params={'nbstream': {'tokens': 120, 'rate': 30}})\np1")
    [box] = frontend.with_class("nbstream-input")
    frontend.type_and_enter(box, "Hello from the browser")
    assert log.wait_for(lambda r: bool(r) and r[-1].chunks_sent > 2, HANG)
    frontend.drain(0.3)
    [body] = frontend.with_class("nbstream-assistant")

    quick = frontend.execute("sum(range(10))")
    assert "45" in plain_outputs(quick)
    assert log.records[-1].outcome == "pending"  # the cell ran while the reply streamed

    blocked = frontend.execute("import time; time.sleep(1.5); 42")
    assert "42" in plain_outputs(blocked)
    during = [
        state["value"]
        for at, cid, state in frontend.updates
        if cid == body and "value" in state and blocked["busy"] < at < blocked["idle"]
    ]
    assert len(during) >= 3  # sent while the kernel's main thread slept (about 10 a second)
    assert len(during[-1]) > len(during[0])
    assert log.records[-1].outcome == "pending"

    [stop] = frontend.with_class("nbstream-stop")
    frontend.click(stop)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert log.records[-1].chunks_sent < 120


@pytest.mark.kernel
def test_stop_clicked_before_the_first_token_disconnects(frontend: Frontend, log) -> None:
    frontend.execute("p2 = ChatPanel('k2', params={'nbstream': {'first_token_delay': 30}})\np2")
    [box], [stop] = frontend.with_class("nbstream-input"), frontend.with_class("nbstream-stop")
    frontend.type_and_enter(box, "Hello?")
    assert log.wait_for(lambda r: bool(r), HANG)
    frontend.drain(0.2)
    frontend.click(stop)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)  # not the 30 s delay
    assert log.records[-1].chunks_sent == 0
    frontend.drain(0.3)
    [error], [retry] = frontend.with_class("nbstream-error"), frontend.with_class("nbstream-retry")
    assert frontend.state[stop]["disabled"] and not frontend.state[box].get("disabled")
    assert f"IPY_MODEL_{retry}" in frontend.state[error]["children"]  # with its Retry button


@pytest.mark.kernel
def test_the_transcript_output_is_updated_after_the_cell_that_sent_has_finished(
    frontend: Frontend, log
) -> None:
    shown = frontend.execute("p3 = ChatPanel('k3', params={'nbstream': {'rate': 20}})\np3")
    outputs = [m["content"] for m in shown["outputs"]]
    assert [sorted(o["data"]) for o in outputs] == [
        ["application/vnd.jupyter.widget-view+json", "text/plain"],
        ["text/markdown", "text/plain"],
    ]
    display_id = outputs[1]["transient"]["display_id"]
    sent = frontend.execute("p3.send('Hello transcript')")
    deadline = time.monotonic() + HANG
    update = None
    while update is None and time.monotonic() < deadline:
        msg = frontend.take(HANG)
        if msg["msg_type"] == "update_display_data":
            update = msg
    assert update is not None and update["content"]["transient"]["display_id"] == display_id
    assert update["parent_header"]["msg_id"] == sent["msg_id"]  # the cell that sent, now idle
    assert len(frontend.messages) - 1 > sent["idle"]  # it came after that cell's idle status
    data = update["content"]["data"]
    assert "You: Hello transcript" in data["text/plain"] and "**You:**" in data["text/markdown"]


@pytest.mark.kernel
def test_a_chat_cell_and_a_panel_share_the_thread_and_errors_show_inline(
    frontend: Frontend, log, fault_key
) -> None:
    frontend.execute('%%chat -t k4 -p nbstream=\'{"text": "Four."}\'\nWhat is 2+2?')
    shown = frontend.execute("p4 = ChatPanel('k4')\np4")
    assert "You: What is 2+2?" in plain_outputs(shown) and "Four." in plain_outputs(shown)
    failing = {"fail_status": 400, "fail_times": 1, "key": fault_key}  # 400: not retried
    frontend.execute(
        f"p5 = ChatPanel('k5', params={{'nbstream': {failing!r}}}); p5.send('x')\n"
        "p4.params = {'nbstream': {'text': 'Eight.'}}; p4.send('And doubled?')"
    )
    frontend.execute("p4.wait(HANG); p5.wait(HANG)")
    history = frontend.execute("%chat history -t k4")
    assert "And doubled?" in plain_outputs(history) and "Eight." in plain_outputs(history)
    errors = [frontend.state[c] for c in frontend.with_class("nbstream-error-text")]
    assert len(errors) == 1 and "400 from" in errors[0]["value"]
    assert "hint: the server rejected a parameter" in errors[0]["value"]


@pytest.mark.kernel
def test_the_panel_notebook_runs_offline_and_saves_the_transcript(
    tmp_path: Path, monkeypatch
) -> None:
    for name in list(os.environ):
        if name.startswith(_OURS):
            monkeypatch.delenv(name)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o["output_type"] == "error"]
    shown = [o for o in outputs if o["output_type"] in ("display_data", "execute_result")]
    assert all("text/plain" in o["data"] for o in shown)
    transcripts = [o for o in shown if "chat transcript" in o["data"]["text/plain"]]
    assert len(transcripts) == 1 and set(transcripts[0]["data"]) == {"text/markdown", "text/plain"}
    final = transcripts[0]["data"]  # updated in place as the turns ended
    assert "3 turns" in final["text/plain"]
    assert "You: Hello from code" in final["text/plain"]
    assert "You: What did I ask in the cell?" in final["text/plain"]
    assert "**You:**\n\nHello from code" in final["text/markdown"]
