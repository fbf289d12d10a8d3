"""The panel's input box: one button that sends while idle and stops while a reply streams."""

from __future__ import annotations

from nbstream.show.panel_input import SEND, STOP, ChatInput


def box_with_ears() -> tuple[ChatInput, list[str]]:
    box, heard = ChatInput(placeholder="Ask"), []
    box.on_send(lambda text: heard.append(f"send {text}"))
    box.on_stop(lambda: heard.append("stop"))
    return box, heard


def test_enter_sends_the_text_that_came_with_it_and_leaves_the_box_alone() -> None:
    box, heard = box_with_ears()
    box.value = "typed on since"
    box._on_message(box, {"event": "submit", "value": "Hello", "id": 1}, [])
    assert heard == ["send Hello"] and box.value == "typed on since"


def test_the_button_sends_and_empties_while_idle_and_stops_while_streaming() -> None:
    box, heard = box_with_ears()
    box.value = "Hi"
    box.press()
    assert heard == ["send Hi"] and box.value == ""
    box.action = STOP
    box.submit()  # Enter never stops a reply
    box._on_message(box, {"event": "submit", "value": "ignored"}, [])
    assert heard == ["send Hi"]
    box._on_message(box, {"event": "stop"}, [])
    assert heard == ["send Hi", "stop"]
    box.action = SEND
    box._on_message(box, {"event": "stop"}, [])  # a late Stop after the reply ended
    box._on_message(box, "submit", [])
    assert heard == ["send Hi", "stop"]
