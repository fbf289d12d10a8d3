"""The panel's controls: what they send, and what waits while a reply streams."""

from __future__ import annotations

import asyncio

from ipywidgets import Combobox

from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.show.panel_input import SEND, STOP
from nbstream.show.panel_layout import PanelWidgets, default_model, fill_models
from nbstream.store.threads import ConversationStore

from .conftest import SECRET_KEY


def panel(sent: list[str]) -> PanelWidgets:
    return PanelWidgets(
        model="m",
        model_placeholder="model",
        on_send=lambda text: sent.append(f"send {text}"),
        on_stop=lambda: sent.append("stop"),
        on_new=lambda: sent.append("new"),
    )


def test_the_input_and_new_chat_call_their_actions() -> None:
    sent: list[str] = []
    widgets = panel(sent)
    widgets.input.value = "Hi"
    widgets.input.submit()
    widgets.new.click()
    widgets.set_streaming(True)
    widgets.input.press()
    assert sent == ["send Hi", "new", "stop"]


def test_the_temperature_is_sent_only_once_the_user_moved_it() -> None:
    widgets = panel([])
    assert widgets.chosen_params() == {}
    widgets.temperature.value = 0.3
    assert widgets.chosen_params() == {"temperature": 0.3}


def test_while_streaming_the_button_stops_and_new_chat_waits() -> None:
    widgets = panel([])
    assert widgets.input.action == SEND and not widgets.new.disabled
    widgets.set_streaming(True)
    assert widgets.input.action == STOP and widgets.new.disabled
    widgets.set_streaming(False)
    assert widgets.input.action == SEND and not widgets.new.disabled


def test_the_picker_offers_the_servers_models(server, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    config = NbStream(base_url=server.url, model="nbstream-demo")
    session = Session(config, ConversationStore(), tmp_path / "cache.sqlite")
    assert default_model(session, "default") == "nbstream-demo"
    picker = Combobox()
    asyncio.run(fill_models(picker, session, "default"))
    assert {"nbstream-demo", "fault-401"} <= set(picker.options)
