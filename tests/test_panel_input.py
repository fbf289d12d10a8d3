"""The panel's input box: Enter submits what was typed, to every listener, in order."""

from __future__ import annotations

from nbstream.show.panel_input import ChatInput


def test_a_submit_message_sets_the_value_then_tells_each_listener() -> None:
    box, heard = ChatInput(placeholder="Ask"), []
    box.on_submit(lambda b: heard.append(("first", b.value)))
    box.on_submit(lambda b: heard.append(("second", b.value)))
    box._on_message(box, {"event": "submit", "value": "Hello"}, [])
    assert heard == [("first", "Hello"), ("second", "Hello")]


def test_other_messages_and_bad_values_submit_nothing_new() -> None:
    box, heard = ChatInput(value="kept"), []
    box.on_submit(lambda b: heard.append(b.value))
    box._on_message(box, {"event": "focus"}, [])
    box._on_message(box, "submit", [])
    assert heard == []
    box._on_message(box, {"event": "submit", "value": 5}, [])
    assert heard == ["kept"]


def test_submit_acts_as_enter() -> None:
    box, heard = ChatInput(value="typed"), []
    box.on_submit(lambda b: heard.append(b.value))
    box.submit()
    assert heard == ["typed"] and box.busy is False
