"""The chat panel in real kernels, driven as a browser would: comm messages in, IOPub out.

`Frontend` holds what a browser would: widget states built from the kernel's comm messages.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pytest

from nbstream.offline.server import OfflineServer

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

pytestmark = [pytest.mark.timeout(60), pytest.mark.kernel]
NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "panel.ipynb"
_OURS = ("OPENAI_", "AZURE_OPENAI_", "NBSTREAM_")


class Frontend:
    """What a browser would hold for a kernel: widget states built from IOPub comm messages."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.state: dict[str, dict[str, Any]] = {}
        self.updates: list[tuple[int, str, dict[str, Any]]] = []  # (index in messages, ...)
        self.messages: list[dict[str, Any]] = []  # every IOPub message, in the order sent

    def execute(self, code: str, timeout: float = 30) -> dict[str, Any]:
        """Run a cell, taking in every IOPub message until it is idle; its own outputs.
        A cell that raised fails the test: a wait that never ran must not pass unseen."""
        msg_id = self.kernel.start(code)
        outputs: dict[str, Any] = {"msg_id": msg_id, "outputs": []}
        while True:
            msg = self.take(timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":  # indexes of busy and idle: the cell ran between
                outputs[msg["content"]["execution_state"]] = len(self.messages) - 1
                if msg["content"]["execution_state"] == "idle":
                    raised = [o["content"] for o in outputs["outputs"] if o["msg_type"] == "error"]
                    assert not raised, f"the cell raised: {raised}"
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

    def until(self, predicate: Callable[[], bool], timeout: float = HANG) -> bool:
        """Take messages until `predicate()` holds; False if `timeout` seconds pass first.
        What the kernel sent arrives when it arrives: no fixed wait can be sure to hold it."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if (left := deadline - time.monotonic()) <= 0:
                return False
            with contextlib.suppress(queue.Empty):
                self.take(left)
        return True

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
        """Type a message and press Enter: the box sends it and empties itself."""
        self.type(comm_id, message)
        self.send(
            comm_id, {"method": "custom", "content": {"event": "submit", "id": 1, "value": message}}
        )
        self.type(comm_id, "")

    def type(self, comm_id: str, text: str) -> None:
        """Leave `text` in a message box."""
        self.send(comm_id, {"method": "update", "state": {"value": text}, "buffer_paths": []})

    def press_stop(self, comm_id: str) -> None:
        """Click the input row's button while it says Stop."""
        self.send(comm_id, {"method": "custom", "content": {"event": "stop", "id": 2}})


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


#: A cell whose main thread sleeps until the panel's reply has changed three times (from the
#: loop thread) while it slept, and shows whether it saw them: a sleep of fixed length could
#: end before a busy machine has sent any update.
SLEEP_THROUGH_THREE_UPDATES = f"""
import time
changes = []
p1._view.body.observe(lambda change: changes.append(change["new"]), "value")
deadline = time.monotonic() + {HANG}
while len(changes) < 3 and time.monotonic() < deadline:
    time.sleep(0.05)
len(changes) >= 3
"""


def test_cells_run_while_the_panel_streams_and_it_advances_while_a_cell_blocks(
    frontend: Frontend, log
) -> None:
    tokens = 1000  # 33 s: it streams through the cells below however slow they are, until Stop
    frontend.execute(
        f"p1 = ChatPanel('k1', params={{'nbstream': {{'tokens': {tokens}, 'rate': 30}}}})\np1"
    )
    [box] = frontend.with_class("nbstream-input")
    frontend.type_and_enter(box, "Hello from the browser")
    assert log.wait_for(lambda r: bool(r) and r[-1].chunks_sent > 2, HANG)
    assert frontend.until(lambda: bool(frontend.with_class("nbstream-assistant")))
    [body] = frontend.with_class("nbstream-assistant")

    quick = frontend.execute("sum(range(10))")
    assert "45" in plain_outputs(quick)
    assert log.records[-1].outcome == "pending"  # the cell ran while the reply streamed

    blocked = frontend.execute(SLEEP_THROUGH_THREE_UPDATES)
    assert plain_outputs(blocked) == "True"
    during = [
        state["value"]
        for at, cid, state in frontend.updates
        if cid == body and "value" in state and blocked["busy"] < at < blocked["idle"]
    ]
    assert len(during) >= 3  # sent while the kernel's main thread slept
    assert len(during[-1]) > len(during[0])
    assert log.records[-1].outcome == "pending"

    frontend.press_stop(box)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert log.records[-1].chunks_sent < tokens  # cut short


def test_stop_clicked_before_the_first_token_disconnects(frontend: Frontend, log) -> None:
    frontend.execute("p2 = ChatPanel('k2', params={'nbstream': {'first_token_delay': 30}})\np2")
    [box] = frontend.with_class("nbstream-input")
    frontend.type_and_enter(box, "Hello?")
    assert log.wait_for(lambda r: bool(r), HANG)
    assert frontend.until(lambda: frontend.state[box]["action"] == "Stop")
    frontend.press_stop(box)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)  # not the 30 s delay
    assert log.records[-1].chunks_sent == 0
    # The kernel updates the widgets as its task winds down, after the server saw the close.
    assert frontend.until(
        lambda: (
            bool(frontend.with_class("nbstream-error") and frontend.with_class("nbstream-retry"))
            and frontend.state[box]["action"] == "Send"
        )
    )
    [error], [retry] = frontend.with_class("nbstream-error"), frontend.with_class("nbstream-retry")
    assert f"IPY_MODEL_{retry}" in frontend.state[error]["children"]  # with its Retry button


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
    frontend.execute(f"p4.wait({HANG}); p5.wait({HANG})")
    history = frontend.execute("%chat history -t k4")
    assert "And doubled?" in plain_outputs(history) and "Eight." in plain_outputs(history)
    errors = [frontend.state[c] for c in frontend.with_class("nbstream-error-text")]
    assert len(errors) == 1 and "400 from" in errors[0]["value"]
    assert "hint: the server rejected a parameter" in errors[0]["value"]


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


def test_a_chat_cell_on_the_panels_thread_shows_in_it_and_its_transcript_at_once(
    frontend: Frontend, log
) -> None:
    shown = frontend.execute("p7 = ChatPanel('k7')\np7")
    display_id = shown["outputs"][1]["content"]["transient"]["display_id"]
    before = set(frontend.with_class("nbstream-exchange"))
    run = frontend.execute('%%chat -t k7 -p nbstream=\'{"text": "Four."}\'\nWhat is 2+2?')
    during = frontend.messages[run["busy"] : run["idle"]]
    new = [c for c in frontend.with_class("nbstream-exchange") if c not in before]
    added = [frontend.state[c]["value"] for c in new]
    assert len(added) == 1 and "What is 2+2?" in added[0] and "Four." in added[0], added
    updates = [
        m["content"]["data"]["text/plain"]
        for m in during
        if m["msg_type"] == "update_display_data"
        and m["content"]["transient"]["display_id"] == display_id
    ]
    assert updates and "You: What is 2+2?" in updates[-1] and "Four." in updates[-1], updates


def custom(msg: dict[str, Any]) -> dict[str, Any] | None:
    """The content of a widget's custom message to the browser, if `msg` is one."""
    data = msg["content"].get("data", {}) if msg["msg_type"] == "comm_msg" else {}
    return data.get("content") if data.get("method") == "custom" else None


def test_while_a_cell_runs_the_panel_knows_and_its_message_is_acknowledged_after_it(
    frontend: Frontend, log
) -> None:
    frontend.execute("p6 = ChatPanel('k6', params={'nbstream': {'tokens': 5, 'rate': 0}})\np6")
    box = frontend.with_class("nbstream-input")[-1]  # this panel's: the newest
    assert frontend.state[box]["cell_running"] is False
    sleeping = frontend.kernel.start("import time; time.sleep(1); 'slept'")
    # Over the main shell channel (no subshell), as JupyterLab sends comms without subshells.
    frontend.type_and_enter(box, "Sent while a cell runs")
    frontend.type(box, "a draft typed before the kernel took the message")
    idle = acked = None
    while acked is None:
        msg = frontend.take(HANG)
        at = len(frontend.messages) - 1
        state = msg["content"].get("execution_state")
        if msg["parent_header"].get("msg_id") == sleeping and state == "idle":
            idle = at
        if (custom(msg) or {}).get("event") == "received":
            acked = at
    flags = [
        (at, s["cell_running"]) for at, c, s in frontend.updates if c == box and "cell_running" in s
    ]
    assert [flag for _, flag in flags] == [True, False], flags
    assert idle is not None and flags[1][0] < idle < acked  # the row saw the cell, then the ack
    assert custom(frontend.messages[acked]) == {"event": "received", "id": 1}
    frontend.execute(f"p6.wait({HANG})")
    assert log.records[-1].body["messages"][-1]["content"] == "Sent while a cell runs"
    left = frontend.execute("p6._parts.input.value")
    assert "'a draft typed before the kernel took the message'" in plain_outputs(left)
