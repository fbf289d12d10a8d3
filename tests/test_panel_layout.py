"""The panel's controls: what they send, and what waits while a reply streams."""

from __future__ import annotations

import asyncio

from ipywidgets import Combobox

from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.show.panel_layout import PanelWidgets, default_model, fill_models
from nbstream.store.threads import ConversationStore

from .conftest import SECRET_KEY


def panel(sent: list[str]) -> PanelWidgets:
    return PanelWidgets(
        model="m",
        model_placeholder="model",
        on_send=lambda: sent.append("send"),
        on_stop=lambda: sent.append("stop"),
        on_new=lambda: sent.append("new"),
    )


def test_enter_and_the_buttons_call_their_actions() -> None:
    sent: list[str] = []
    widgets = panel(sent)
    widgets.input.submit()
    widgets.send.click()
    widgets.new.click()
    widgets.stop.click()
    assert sent == ["send", "send", "new", "stop"]


def test_the_temperature_is_sent_only_once_the_user_moved_it() -> None:
    widgets = panel([])
    assert widgets.chosen_params() == {}
    widgets.temperature.value = 0.3
    assert widgets.chosen_params() == {"temperature": 0.3}


def test_while_streaming_only_stop_works() -> None:
    widgets = panel([])
    assert widgets.stop.disabled and not widgets.send.disabled
    widgets.set_streaming(True)
    assert (widgets.send.disabled, widgets.new.disabled, widgets.input.busy) == (True,) * 3
    assert not widgets.stop.disabled
    widgets.set_streaming(False)
    assert widgets.stop.disabled and not widgets.input.busy


def test_the_picker_offers_the_servers_models(server, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    config = NbStream(base_url=server.url, model="nbstream-demo")
    session = Session(config, ConversationStore(), tmp_path / "cache.sqlite")
    assert default_model(session, "default") == "nbstream-demo"
    picker = Combobox()
    asyncio.run(fill_models(picker, session, "default"))
    assert {"nbstream-demo", "fault-401"} <= set(picker.options)
