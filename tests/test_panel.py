"""The chat panel, driven in this process through its widgets (test_panel_kernel.py drives
it in real kernels): widgets are created, clicked and read directly, without a front end.
"""

from __future__ import annotations

import html
import io
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import ipywidgets as widgets
import pytest

from nbstream.engine.result import Status
from nbstream.errors import ThreadBusyError
from nbstream.offline.server import OfflineServer
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.show import panel_html as _panel_html
from nbstream.show.live import driver
from nbstream.show.panel import ChatPanel, PanelState
from nbstream.show.panel_copy import CodeCopy
from nbstream.show.panel_input import ChatInput
from nbstream.show.surfaces import TerminalSurface
from nbstream.turn import TurnOptions

from .conftest import HANG, eventually

pytestmark = pytest.mark.timeout(60)
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
    return plain(getattr(widget, "value", ""))


def plain(value: str) -> str:
    """A widget's HTML value as the text it shows."""
    return html.unescape(re.sub(r"<[^>]+>", "", value))


def reply(panel: ChatPanel) -> widgets.HTML:
    return find(panel.widget, "nbstream-assistant")[-1]


def stats(panel: ChatPanel) -> str:
    return text(find(panel.widget, "nbstream-stats")[-1])


def click(panel: ChatPanel, css_class: str) -> None:
    find(panel.widget, css_class)[-1].click()


def box(panel: ChatPanel) -> ChatInput:
    """The input row: the message box and its one button."""
    [found] = find(panel.widget, "nbstream-input")
    return found


def header(panel: ChatPanel) -> str:
    """The header's title and totals, as text."""
    return text(find(panel.widget, "nbstream-heading")[0])


def watch_added(panel: ChatPanel, css_class: str) -> list[str]:
    """Every value that messages with `css_class` added to the panel from now on are set to,
    in order. Each is observed from the moment the panel adds it, before its turn's task
    starts, so no value is missed however late the test's own thread runs."""
    values: list[str] = []
    [listing] = find(panel.widget, "nbstream-list")

    def added(change: dict[str, Any]) -> None:
        for row in change["new"]:
            if row not in change["old"] and css_class in row._dom_classes:
                row.observe(lambda change: values.append(change["new"]), "value")

    listing.observe(added, "children")
    return values


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
    # 4 s, so that it still streams when send returns and sends many updates however busy
    # the machine; it runs to its end, whose stats are checked.
    panel = make_panel(params=opts(tokens=200, rate=50))
    headings_by_send: list[str] = []  # set on this thread: send's own, not the loop's updates

    def heading_set(change: dict[str, Any]) -> None:
        if threading.current_thread() is threading.main_thread():
            headings_by_send.append(plain(change["new"]))

    find(panel.widget, "nbstream-heading")[0].observe(heading_set, "value")
    seen = watch_added(panel, "nbstream-assistant")
    stats_lines = watch_added(panel, "nbstream-stats")
    panel.send("Hello")
    assert panel.state is PanelState.STREAMING  # returned before the reply
    assert not log.records or log.records[-1].outcome == "pending"
    assert box(panel).action == "Stop"
    result = panel.wait(HANG)
    assert result is not None and result.status is Status.COMPLETE
    # Send showed it at once, before any token could be counted in the header.
    assert headings_by_send and "streaming the first reply" in headings_by_send[0], headings_by_send
    streaming = [s for s in map(plain, stats_lines) if re.match(r"streaming \d+ tokens? · ", s)]
    assert streaming, stats_lines  # the stats line counted the tokens as they came
    lengths = [len(value) for value in seen]
    assert len(seen) >= 5 and lengths == sorted(lengths)  # it grew, visibly, in steps
    assert result.text.split()[-1] in text(reply(panel))
    assert stats(panel).startswith("finished ") and "200 tokens" in stats(panel)
    assert "tok/s" in stats(panel)
    assert "streaming" not in stats(panel)
    assert "nbstream-streaming" not in reply(panel)._dom_classes
    assert panel.state is PanelState.IDLE
    assert box(panel).action == "Send"
    assert "1 request" in header(panel)
    assert [ex.user for ex in panel.session.store.thread("default").exchanges] == ["Hello"]


def test_enter_in_the_message_box_sends_it_and_clears_it(make_panel, log) -> None:
    panel = make_panel(params=opts(text="Fine, thanks."))
    row = box(panel)
    row.value = "  How are you?  "
    row.submit()  # what the box's JavaScript does on Enter without Shift
    assert row.value == ""
    assert panel.wait(HANG).text == "Fine, thanks."
    assert log.records[-1].body["messages"][-1] == {"role": "user", "content": "How are you?"}
    row.submit()  # an empty box sends nothing
    assert panel.state is PanelState.IDLE and len(log.records) == 1


def test_stop_before_the_first_token_disconnects_and_keeps_nothing(make_panel, log) -> None:
    panel = make_panel(params=opts(first_token_delay=30))
    panel.send("Hello?")
    assert log.wait_for(lambda r: bool(r), HANG)
    box(panel).press()  # the button says Stop now
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)  # not the 30 s delay
    assert log.records[-1].chunks_sent == 0
    # The panel settles after its task has wound down, which can be after the server saw the
    # connection close: wait for the turn's end before reading what it left.
    assert panel.wait(HANG) is None
    assert panel.state is PanelState.IDLE and panel.last is None
    assert panel.session.store.thread("default").exchanges == []
    assert "nothing kept" in text(find(panel.widget, "nbstream-error")[0])
    assert find(panel.widget, "nbstream-assistant") == []  # no empty reply left behind
    assert box(panel).action == "Send"
    panel.params = opts(text="Here now.")
    click(panel, "nbstream-retry")  # the thread was released: a new turn runs
    assert panel.wait(HANG).text == "Here now."


def test_stop_after_the_first_token_keeps_the_partial_reply_as_interrupted(make_panel, log) -> None:
    panel = make_panel(params=opts(tokens=1000, rate=50))  # 20 s: stopped long before its end
    panel.send("Tell me a long story")
    assert eventually(lambda: len(text(reply(panel))) > 40)
    # stop() says whether the turn ended within a short grace, which a busy machine can
    # exceed: the turn's end is waited for instead, and what it kept is checked.
    panel.stop()
    result = panel.wait(HANG)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert log.records[-1].chunks_sent < 1000
    kept = panel.session.store.thread("default").exchanges[-1].result
    assert kept.status is Status.INTERRUPTED and kept.text
    assert panel.last == kept == result
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
    # 25 s each: the second starts long before the first could end, however busy the machine.
    first, second = (make_panel(t, params=opts(tokens=1000, rate=40)) for t in ("a", "b"))
    first.send("one")
    second.send("two")
    # Both streaming at once: this cannot hold if they ran in turn.
    assert log.wait_for(lambda r: [x.outcome for x in r] == ["pending", "pending"], HANG)
    # Stopped once each has shown text, so that each keeps a partial reply on its thread.
    assert eventually(lambda: all(len(text(reply(panel))) > 20 for panel in (first, second)))
    for panel in (first, second):
        panel.stop()
    assert first.wait(HANG).status is Status.INTERRUPTED
    assert second.wait(HANG).status is Status.INTERRUPTED
    store = first.session.store
    assert [e.user for e in store.thread("a").exchanges] == ["one"]
    assert [e.user for e in store.thread("b").exchanges] == ["two"]


def test_a_second_turn_on_a_streaming_thread_is_refused(make_panel, log) -> None:
    panel = make_panel("t", params=opts(tokens=1000, rate=40))  # 25 s: still streaming below
    other = make_panel("t")
    panel.send("first")
    with pytest.raises(ThreadBusyError):
        panel.send("second")
    assert box(panel).action == "Stop"
    # The first turn holds the thread once its request is out (it prepares off the loop first).
    assert log.wait_for(lambda r: len(r) == 1 and r[0].chunks_sent > 0, HANG)
    other.send("from another panel")
    assert other.wait(HANG) is None
    assert "already streaming on thread 't'" in text(find(other.widget, "nbstream-error")[0])
    assert log.records[-1].outcome == "pending"
    # Stopped once the panel shows text: a Stop before the first token read keeps nothing.
    assert eventually(lambda: len(text(reply(panel))) > 0)
    panel.stop()  # its return says only whether the turn ended within a short grace
    assert panel.wait(HANG).status is Status.INTERRUPTED
    assert len(log.records) == 1
    assert [e.user for e in panel.session.store.thread("t").exchanges] == ["first"]


@pytest.mark.parametrize("close", [ChatPanel.close, lambda panel: panel.widget.close()])
def test_closing_the_panel_mid_stream_cancels_its_stream(make_panel, log, close) -> None:
    panel = make_panel(params=opts(tokens=1000, rate=50))  # 20 s: closed long before its end
    panel.send("Hello")
    assert eventually(lambda: len(text(reply(panel))) > 20)
    close(panel)
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert panel.state is PanelState.CLOSED and panel.widget.comm is None
    # The partial reply is recorded as the task winds down, after the connection closed.
    store = panel.session.store
    assert eventually(lambda: bool(store.thread("default").exchanges))
    assert store.thread("default").exchanges[-1].status is Status.INTERRUPTED
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
    shown = header(panel)
    assert "2 requests" in shown and "tokens" in shown and "tok/s" in shown


def test_wait_with_a_timeout_raises_while_the_reply_streams(make_panel, log) -> None:
    panel = make_panel(params=opts(first_token_delay=30))
    panel.send("Hello")
    assert log.wait_for(lambda r: bool(r), HANG)  # the request is out: the reply streams
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


# ---- the chat-app layout: one button in the input row, the header's controls, live totals


def classes(widget: widgets.Widget) -> set[str]:
    return set(getattr(widget, "_dom_classes", ()))


def test_the_input_row_has_one_button_that_says_send_then_stop_then_send(make_panel) -> None:
    panel = make_panel(params=opts(tokens=400, rate=40))
    row = box(panel)
    buttons = [w for w in walk(panel.widget) if isinstance(w, widgets.Button)]
    assert [classes(b) & {"nbstream-new"} for b in buttons] == [{"nbstream-new"}]  # no others
    assert row.action == "Send"
    row.value = "Tell me a story"
    row.press()
    assert row.action == "Stop" and row.value == ""
    assert eventually(lambda: len(text(reply(panel))) > 20)
    row.submit()  # Enter while streaming neither sends nor stops
    assert panel.state is PanelState.STREAMING
    row.press()
    assert panel.wait(HANG).status is Status.INTERRUPTED
    assert row.action == "Send"
    assert [e.user for e in panel.session.store.thread("default").exchanges] == ["Tell me a story"]


def walk(root: widgets.Widget) -> list[widgets.Widget]:
    """Every widget under `root`, in display order."""
    return [root, *(w for child in getattr(root, "children", ()) for w in walk(child))]


def test_the_header_holds_the_title_the_model_picker_and_new_chat(make_panel) -> None:
    panel = make_panel("h", model="fault-length")
    [head] = find(panel.widget, "nbstream-header")
    assert [sorted(classes(c) - {"nbstream-message"}) for c in head.children] == [
        ["nbstream-heading"],
        ["nbstream-model"],
        ["nbstream-new"],
    ]
    assert head.children[1].value == "fault-length"
    assert head.children[2].description == "New chat"
    assert "thread h" in header(panel) and "no requests yet" in header(panel)
    parts = panel.widget.children
    order = [p for p in parts if classes(p) & {"nbstream-header", "nbstream-messages"}]
    assert [sorted(classes(p)) for p in order] == [["nbstream-header"], ["nbstream-messages"]]
    assert parts.index(box(panel)) > parts.index(order[-1])  # the input under the messages
    assert sum(isinstance(p, CodeCopy) for p in parts) == 1  # adds the code blocks' Copy buttons


def test_code_blocks_in_replies_are_where_the_copy_buttons_look_for_them(make_panel) -> None:
    panel = make_panel(params=opts(text="Run:\n\n```python\nprint('hi')\n```\n", rate=0))
    panel.send("code please")
    panel.wait(HANG)
    [listing] = find(panel.widget, "nbstream-list")  # the ESM decorates `.nbstream-list pre`
    [block] = [w for w in find(listing, "nbstream-assistant") if "<pre" in w.value]
    assert "<pre><code class=\"language-python\">print('hi')\n</code></pre>" in block.value
    [copier] = [w for w in panel.widget.children if isinstance(w, CodeCopy)]
    assert copier.layout.display == "none"  # it only adds buttons; it shows nothing itself


def test_the_copy_buttons_are_built_without_parsing_html_and_only_copy_text() -> None:
    esm = CodeCopy._esm
    assert isinstance(esm, str)
    for parsing in ("innerHTML", "outerHTML", "insertAdjacentHTML", "DOMParser", "eval(",
                    "Function(", "document.write"):  # fmt: skip
        assert parsing not in esm
    assert 'createElement("button")' in esm and ".textContent" in esm
    assert "clipboard.writeText(text)" in esm and "nbstream-copy" in esm
    assert ".nbstream-panel" in esm and ".nbstream-list pre" in esm


def test_new_chat_waits_while_a_reply_streams(make_panel) -> None:
    panel = make_panel(params=opts(tokens=400, rate=40))
    [new] = find(panel.widget, "nbstream-new")
    panel.send("Hello")
    assert new.disabled
    panel.stop()
    panel.wait(HANG)
    assert not new.disabled


def live_totals(headers: list[str]) -> list[int]:
    """The token totals of the headers shown while a reply streamed."""
    return [int(m[1]) for s in headers if (m := re.search(r"≈(\d+) tokens.* · streaming$", s))]


def test_the_header_totals_count_the_streaming_reply_as_it_grows(make_panel) -> None:
    panel = make_panel(params=opts(tokens=10, rate=200))
    panel.send("one")
    panel.wait(HANG)
    [heading] = find(panel.widget, "nbstream-heading")
    seen: list[str] = []
    heading.observe(lambda change: seen.append(plain(change["new"])), "value")
    panel.params = opts(tokens=1000, rate=40)  # 25 s: stopped once the header has grown
    panel.send("two")
    assert eventually(lambda: len(live := live_totals(seen)) >= 3 and live[-1] > live[0]), seen
    panel.stop()
    result = panel.wait(HANG)
    live = live_totals(seen)
    assert len(live) >= 3 and live == sorted(live) and live[-1] > live[0], seen
    assert all(s.startswith("nbstream chat · thread default") for s in seen)
    assert all("2 requests" in s for s in seen if "streaming" in s)
    final = header(panel)
    assert final.endswith("tok/s") and "2 requests" in final and "streaming" not in final
    assert result is not None and panel.results[-1] == result


def test_a_chat_cell_turn_on_the_thread_appears_in_the_panel_on_its_own(make_panel, log) -> None:
    panel = make_panel("cells", params=opts(text="Eight."))
    other = make_panel("elsewhere")
    panel._parts.system.value = "a draft system prompt"  # typed, not sent yet
    panel.session.chat(
        "What is 2+2?",
        TurnOptions(thread="cells", params=opts(text="Four.")),
        driver(TerminalSurface(io.StringIO())),
    )
    shown = find(panel.widget, "nbstream-exchange")
    assert len(shown) == 1 and "What is 2+2?" in text(shown[0]) and "Four." in text(shown[0])
    assert "finished" in text(shown[0])  # with its stats line and badge
    assert panel._parts.system.value == "a draft system prompt"
    assert find(other.widget, "nbstream-exchange") == []
    panel.send("And doubled?")  # the panel goes on from the cell's turn
    assert panel.wait(HANG).text == "Eight."
    assert [m["content"] for m in log.records[-1].body["messages"]][-3:] == [
        "What is 2+2?",
        "Four.",
        "And doubled?",
    ]
    second = make_panel("cells")  # a second panel on the thread sees the first's turns
    panel.send("Once more")
    panel.wait(HANG)
    assert len(find(second.widget, "nbstream-exchange")) == 3


def test_a_closed_panel_no_longer_follows_its_thread(make_panel, session) -> None:
    panel = make_panel("gone")
    panel.close()
    session.chat(
        "Hello",
        TurnOptions(thread="gone", params=opts(text="Hi.")),
        driver(TerminalSurface(io.StringIO())),
    )
    assert session._watchers == []
