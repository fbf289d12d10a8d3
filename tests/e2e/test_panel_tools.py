"""The chat panel's tools in JupyterLab, in a real browser: a call not marked safe waits under
the reply with Approve and Deny; Approve runs it on the kernel's main thread, no cell running,
and the model's answer uses its result."""

from __future__ import annotations

import pytest

from nbstream.offline.server import OfflineServer

from .conftest import JupyterServer
from .test_panel_chat import open_panel

pytestmark = pytest.mark.e2e

PANEL = '''import nbstream, threading
ran = []

def remove(path: str) -> str:
    """Delete a file."""
    ran.append(threading.current_thread().name)
    return f"removed {path} on {ran[-1]}"

panel = nbstream.ChatPanel(tools=[remove], approve="ask")
panel'''


def test_approve_runs_the_call_and_the_answer_uses_its_result(
    page, jupyter: JupyterServer, offline: OfflineServer
) -> None:
    panel = open_panel(page, jupyter, "panel-tools.ipynb", "lab", PANEL)
    panel.send("Clean up")
    row = panel.root.locator(".nbstream-approval")
    row.locator(".nbstream-approve").wait_for(timeout=30_000)
    assert "remove" in row.inner_text() and "run this tool?" in row.inner_text()
    assert len(offline.log.records) == 1  # nothing goes back before the click
    row.locator(".nbstream-approve").click()
    final = panel.wait_for_reply(1)
    assert "removed" in final["reply"] and "on MainThread" in final["reply"], final["reply"]
    assert "approved" in row.inner_text()
    assert row.locator("button:disabled").count() == 2
    [tool] = [m for m in offline.log.records[-1].body["messages"] if m["role"] == "tool"]
    assert tool["content"].startswith("removed") and tool["content"].endswith("on MainThread")
