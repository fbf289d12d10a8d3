"""A chat panel's tools in this process: a panel offers them to its turns, and a cell blocked
in `wait()` runs their calls on the main thread (no event loop runs here to schedule them)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import nbstream
from nbstream.engine.result import Status
from nbstream.show.panel import ChatPanel

from .conftest import HANG, demo_session

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
    panels, server, log, monkeypatch
) -> None:
    threads: list[str] = []

    @nbstream.tool(safe=True)
    def weather(city: str) -> str:
        """The weather in a city."""
        threads.append(threading.current_thread().name)
        return f"sunny in {city}"

    panel = panel_with(panels, server, monkeypatch, tools=[weather], max_tool_rounds=2)
    panel.send("Weather in Paris?")
    result = panel.wait(HANG)
    assert result is not None and result.status is Status.COMPLETE
    assert "sunny in Paris" in result.text
    assert threads == ["MainThread"]
    assert [t["function"]["name"] for t in log.records[0].body["tools"]] == ["weather"]


def test_a_panel_without_tools_offers_none(panels, server, log, monkeypatch) -> None:
    panel = panel_with(panels, server, monkeypatch)
    panel.send("Hello")
    panel.wait(HANG)
    assert "tools" not in log.records[0].body
