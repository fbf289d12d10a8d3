"""A chat panel's tools in this process: a panel offers them to its turns, a call not marked
safe waits for Approve or Deny under the reply, and a cell blocked in `wait()` runs the calls
on the main thread (no event loop runs here to schedule them)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import nbstream
from nbstream.engine.result import ChatResult, Status
from nbstream.engine.toolrounds import Outcome, ToolRound, ToolRun
from nbstream.show.panel import ChatPanel
from nbstream.show.panel_html import reply_html
from nbstream.show.panel_tools import ApprovalRow, Decision

from .conftest import HANG, demo_session
from .test_panel import eventually, find, text

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def panels(server, log, monkeypatch) -> Iterator[list[ChatPanel]]:
    made: list[ChatPanel] = []
    yield made
    for panel in made:
        panel.close()


def panel_with(panels: list[ChatPanel], server, monkeypatch, **kwargs: Any) -> ChatPanel:
    panel = ChatPanel("tools", session=demo_session(server, monkeypatch), **kwargs)
    panels.append(panel)
    return panel


def test_a_panel_offers_its_tools_and_wait_runs_their_calls_here(
    panels, server, log, monkeypatch, capsys
) -> None:
    threads: list[str] = []

    @nbstream.tool(safe=True)
    def weather(city: str) -> str:
        """The weather in a city."""
        threads.append(threading.current_thread().name)
        print(f"looking up {city}")
        return f"sunny in {city}"

    panel = panel_with(panels, server, monkeypatch, tools=[weather], max_tool_rounds=2)
    panel.send("Weather in Paris?")
    result = panel.wait(HANG)
    assert result is not None and result.status is Status.COMPLETE
    assert "sunny in Paris" in result.text
    assert threads == ["MainThread"]
    assert [t["function"]["name"] for t in log.records[0].body["tools"]] == ["weather"]
    [prints] = find(panel.widget, "nbstream-tool-prints")  # under the reply, not in the cell
    assert [o["text"] for o in prints.outputs] == ["looking up Paris", "\n"]
    assert "looking up" not in capsys.readouterr().out


def test_a_panel_without_tools_offers_none(panels, server, log, monkeypatch) -> None:
    panel = panel_with(panels, server, monkeypatch)
    panel.send("Hello")
    panel.wait(HANG)
    assert "tools" not in log.records[0].body


def test_the_first_click_decides_and_later_ones_are_ignored() -> None:
    told: list[bool] = []
    row = ApprovalRow("remove", '{"path": "a.txt"}', told.append)
    assert row.state is Decision.PENDING and "a.txt" in row.text.value
    row.deny.click()
    row.approve.click()
    assert row.state is Decision.DENIED and told == [False]
    assert row.approve.disabled and row.deny.disabled and "denied" in row.text.value


def test_approve_is_told_once_and_a_withdrawn_row_takes_no_click() -> None:
    told: list[bool] = []
    approved = ApprovalRow("remove", "{}", told.append)
    approved.approve.click()
    approved.withdraw()
    assert approved.state is Decision.APPROVED and told == [True]
    stopped = ApprovalRow("remove", "{}", told.append)
    stopped.withdraw()
    stopped.approve.click()
    assert stopped.state is Decision.WITHDRAWN and told == [True]


def test_the_call_shown_for_approval_is_text() -> None:
    row = ApprovalRow("<img src=x onerror=alert(1)>", '{"a": "<script>x</script>"}', print)
    assert "<img" not in row.text.value and "<script>" not in row.text.value


@pytest.fixture
def remove() -> Any:
    ran: list[str] = []

    def remove(path: str) -> str:
        """Delete a file."""
        ran.append(path)
        return f"removed {path}"

    remove.ran = ran  # type: ignore[attr-defined]
    return remove


@pytest.mark.parametrize("click", ["nbstream-approve", "nbstream-deny"])
def test_a_call_not_marked_safe_waits_for_the_panels_approve_or_deny(
    panels, server, log, monkeypatch, remove, click
) -> None:
    panel = panel_with(panels, server, monkeypatch, tools=[remove], approve="ask")
    panel.send("Clean up")
    assert eventually(lambda: bool(find(panel.widget, click)))
    assert remove.ran == [] and len(log.records) == 1  # nothing runs before the click
    [row] = find(panel.widget, "nbstream-approval")
    assert "remove" in text(row) and "run this tool?" in text(row)
    assert eventually(
        lambda: "⏳ waiting for approval" in text(find(panel.widget, "nbstream-assistant")[-1])
    )
    find(panel.widget, click)[0].click()
    result = panel.wait(HANG)
    assert result is not None and result.status is Status.COMPLETE
    sent = [m["content"] for m in log.records[-1].body["messages"] if m["role"] == "tool"]
    if click == "nbstream-approve":
        assert remove.ran and sent == [f"removed {remove.ran[0]}"]
        assert result.tool_rounds[0].runs[0].outcome is Outcome.OK
    else:
        assert remove.ran == [] and sent[0].startswith("denied")
        assert result.tool_rounds[0].runs[0].outcome is Outcome.DENIED


def test_stop_while_a_call_waits_for_approval_withdraws_it(
    panels, server, log, monkeypatch, remove
) -> None:
    panel = panel_with(panels, server, monkeypatch, tools=[remove])
    panel.send("Clean up")
    assert eventually(lambda: bool(find(panel.widget, "nbstream-approve")))
    panel.stop()
    panel.wait(HANG)
    [approve] = find(panel.widget, "nbstream-approve")
    assert approve.disabled and "withdrawn" in text(find(panel.widget, "nbstream-approval")[0])
    approve.click()
    assert remove.ran == []


def test_the_panel_folds_each_call_as_html_with_untrusted_text_escaped() -> None:
    run = ToolRun("c1", "<b>f</b>", '{"x": "<script>"}', "<img src=x>", Outcome.OK, 0.5)
    result = ChatResult(text="done", tool_rounds=(ToolRound(runs=(run,), reasoning="I *think*"),))
    shown = reply_html(result)
    assert '<details class="nbstream-tool"><summary>🔧 &lt;b&gt;f&lt;/b&gt;  ✓ · 0.50 s' in shown
    assert "<script>" not in shown and "<img" not in shown and "&lt;details" not in shown
    reasoning, call, answer = (shown.index(p) for p in ("💭 Reasoning", "nbstream-tool", "done"))
    assert reasoning < call < answer
