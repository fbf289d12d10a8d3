"""The chat panel's HTML: model text made safe, errors and totals in words, the saved transcript."""

from __future__ import annotations

from nbstream.engine.result import ChatResult, Timings, Usage
from nbstream.show.panel_html import (
    error_html,
    header_html,
    reply_html,
    totals_line,
    transcript_bundle,
    user_html,
)
from nbstream.store.records import Exchange, Thread

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))"


def test_user_and_model_text_never_carry_live_html() -> None:
    shown_as_text = (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; "
        "[x](javascript:alert(3))</p>"
    )
    assert user_html(HOSTILE) == f'<div class="nbstream-role">You</div>{shown_as_text}\n'
    reply = reply_html(ChatResult(text=HOSTILE))
    assert "<script" not in reply and "<img" not in reply and "href" not in reply
    assert '<div class="nbstream-role">&lt;b&gt;m&lt;/b&gt;</div>' in reply_html(
        ChatResult(text="hi", model="<b>m</b>")
    )


def test_notices_come_before_the_reply_and_an_empty_reply_has_no_body() -> None:
    html = reply_html(ChatResult(text="Hi", notices=("second choice <ignored>",)))
    assert html.index("second choice &lt;ignored&gt;") < html.index("Hi")
    assert reply_html(ChatResult()) == '<div class="nbstream-role">Assistant</div>'


def test_errors_and_headers_are_escaped_text() -> None:
    assert error_html("401 from <host>", "set the <key>") == (
        '<div class="nbstream-error-message">✖ 401 from &lt;host&gt;</div>'
        '<div class="nbstream-hint">hint: set the &lt;key&gt;</div>'
    )
    assert "<code>a&lt;b</code>" in header_html("a<b", "no requests yet")


def test_the_totals_count_requests_tokens_and_mean_speed() -> None:
    assert totals_line([]) == "no requests yet"
    assert totals_line([], streaming=True) == "streaming the first reply"
    timed = Timings(first_token=0.0, last_token=1.0, total=1.0)
    results = [ChatResult(usage=Usage(5, 11, 16), timings=timed),
               ChatResult(usage=Usage(1, 3, 4, estimated=True), timings=timed)]  # fmt: skip
    assert totals_line(results) == "2 requests · ≈20 tokens · mean 6.0 tok/s"
    live = ChatResult(usage=Usage(0, 7, 7, estimated=True))
    assert totals_line(results, streaming=True, live=live) == (
        "3 requests · ≈27 tokens · mean 6.0 tok/s · streaming"
    )


def test_the_saved_transcript_is_collapsed_markdown_and_plain_text() -> None:
    thread = Thread("t", None, [Exchange("Hi", ChatResult(text="Hello", model="m"))])
    bundle = transcript_bundle(thread)
    assert bundle["text/markdown"].startswith(
        "<details><summary>nbstream chat transcript · thread t · 1 turn</summary>\n\n"
    )
    assert bundle["text/markdown"].endswith("</details>")
    assert (
        bundle["text/plain"]
        == "nbstream chat transcript · thread t · 1 turn\n\nYou: Hi\n\nm: Hello"
    )
    assert "*No messages yet.*" in transcript_bundle(Thread("empty"))["text/markdown"]
