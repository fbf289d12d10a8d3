"""Rendering: the reply, transcript and footer as safe Markdown, the status lines, the throttle.

What the renderer does with hostile Markdown is in test_markdown_safety.py; here, that every
piece nbstream adds around model text (labels, names, tool calls, notices) stays safe too.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from nbstream.engine.result import ChatResult, Status, Timings, ToolCall, Usage
from nbstream.show.rendering import (
    Throttle,
    bundle,
    ending,
    footer,
    reply_markdown,
    status_line,
    transcript_markdown,
    transcript_text,
)
from nbstream.store.threads import Exchange, Thread

XSS = "<img src=x onerror=alert(1)>"
JS_LINK = "[x](javascript:alert(1))"


def _front_end() -> MarkdownIt:
    """A CommonMark renderer with raw HTML on and no link validator of its own (JupyterLab
    trusts nbstream's output), so that only nbstream stands between a link and the page."""
    md = MarkdownIt("commonmark", {"html": True})
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


def _code_and_html(markdown: str) -> tuple[list[str], list[str]]:
    """What a front end makes of `markdown`: code, and raw HTML or links that are not http(s)."""
    code, html = [], []
    for token in _front_end().parse(markdown):
        if token.type in ("fence", "code_block"):
            code.append(token.content)
        children = token.children or []
        html.extend(c.content for c in children if c.type == "html_inline")
        html.extend(
            str(c.attrGet("href"))
            for c in children
            if c.type == "link_open" and not str(c.attrGet("href")).startswith("http")
        )
        if token.type == "html_block":
            html.append(token.content)
    return code, html


def test_a_reply_that_starts_with_a_fence_stays_code_after_every_label() -> None:
    fenced = f"```\n{XSS}\n```\n{JS_LINK}"
    thread = Thread("t", system=fenced, exchanges=[Exchange(fenced, result(text=fenced))])
    for markdown in (transcript_markdown(thread), reply_markdown(result(refusal=fenced))):
        code, html = _code_and_html(markdown)
        assert html == [] and all(XSS in block for block in code) and code


def test_tool_calls_model_names_and_finish_reasons_cannot_inject_markdown() -> None:
    call = ToolCall(0, "c", f"f`{XSS}`", f"```\n{XSS}")
    hostile = result(
        model=f"**{XSS}{JS_LINK}",
        finish_reason=XSS + JS_LINK,
        status=Status.INCOMPLETE,
        tool_calls=(call,),
    )
    thread = Thread("t", exchanges=[Exchange("hi", hostile)])
    for markdown in (reply_markdown(hostile), transcript_markdown(thread)):
        code, html = _code_and_html(markdown)
        assert html == []
    code, _ = _code_and_html(reply_markdown(hostile))
    assert code == [f"```\n{XSS}\n"]  # the arguments, whole, as the code they are


def test_notices_and_the_footer_show_as_text_in_the_bundle() -> None:
    data = bundle(result(text="ok", model=XSS), footer(result(model=XSS)), (f"note {XSS}",))
    _, html = _code_and_html(data["text/markdown"])
    [footer_html] = html  # nbstream's own line, the model's name in it as text
    assert footer_html.startswith('<div class="nbstream-footer"') and XSS not in footer_html
    assert "&lt;img src=x onerror=alert(1)&gt; · 10 → 20 tokens" in footer_html


def test_transcripts_name_each_speaker_and_how_an_unfinished_reply_ended() -> None:
    stopped = result(text="par", status=Status.INTERRUPTED, model="m2")
    thread = Thread(
        "t", "Be *brief*", [Exchange("Hi", result(text="Hello")), Exchange("More", stopped)]
    )
    assert transcript_text(thread) == (
        "System: Be *brief*\n\nYou: Hi\n\nm: Hello\n\n"
        "You: More\n\nm2 (interrupted after 20 tokens): par"
    )
    assert transcript_markdown(thread) == (
        "**System:**\n\nBe *brief*\n\n---\n\n**You:**\n\nHi\n\n---\n\n**m:**\n\nHello"
        "\n\n---\n\n**You:**\n\nMore\n\n---\n\n**m2:** *(interrupted after 20 tokens)*\n\npar"
    )


def result(**changes) -> ChatResult:
    values = dict(
        text="Hi",
        model="m",
        usage=Usage(10, 20, 30),
        timings=Timings(first_token=0.5, last_token=2.5, total=2.6),
        finish_reason="stop",
    )
    values.update(changes)
    return ChatResult(**values)


def test_footer_has_usage_speed_time_and_ending() -> None:
    line = footer(result(), thread="t", cost=0.0012)
    assert line == (
        "m · 10 → 20 tokens (30) · first token 0.50 s · 9.5 tok/s · total 2.60 s · "
        "finished · thread t · $0.0012"
    )


def test_footer_marks_estimates_and_unfinished_turns() -> None:
    estimated = result(usage=Usage(10, 20, 30, estimated=True), status=Status.INTERRUPTED)
    line = footer(estimated)
    assert "≈10 → ≈20 tokens (≈30)" in line and "interrupted after 20 tokens" in line
    assert ending(result(finish_reason="length")) == "stopped: max tokens reached"
    assert "connection lost" in ending(result(status=Status.INCOMPLETE, error="connection lost"))


def test_speed_is_absent_rather_than_divided_by_zero() -> None:
    quick = result(usage=Usage(1, 1, 2), timings=Timings(first_token=0.1, last_token=0.1))
    assert "tok/s" not in footer(quick)
    assert "waiting for the first token" in status_line(result(timings=Timings()), 1.0)


def test_bundle_has_markdown_and_real_plain_text() -> None:
    data = bundle(result(text="<b>x</b>", tool_calls=(ToolCall(0, "c", "f", "{}"),)), "footer")
    assert data["text/plain"] == "<b>x</b>\n\nTool call f({})\nfooter"
    assert data["text/markdown"].startswith("&lt;b&gt;x&lt;/b&gt;")
    assert "```json\n{}\n```" in data["text/markdown"]
    assert data["text/markdown"].endswith(">finished</span> footer</div>")
    assert bundle(result(), "f", plain_only=True) == {"text/plain": "Hi\nf"}


def test_throttle_allows_ten_updates_a_second_and_fewer_for_long_outputs() -> None:
    throttle = Throttle(max_rate=10, byte_budget=100_000)
    assert throttle.wait(0.0) == 0
    throttle.sent(0.0, 10)
    assert throttle.wait(0.05) == pytest.approx(0.05)
    assert throttle.wait(0.2) == 0
    throttle.sent(1.0, 50_000)
    assert throttle.wait(1.1) == pytest.approx(0.4)


def test_throttle_keeps_bytes_per_second_bounded_for_a_growing_reply() -> None:
    throttle, now, size, sent = Throttle(), 0.0, 0, 0
    while now < 60:
        size += 400  # 2,000 chunks/s of 4 bytes, for a minute
        if throttle.wait(now) == 0:
            throttle.sent(now, size)
            sent += size
        now += 0.02
    assert sent / 60 <= 110_000


def test_the_usage_table_shows_a_hostile_model_name_as_text_in_its_own_cell() -> None:
    from nbstream.pricing import UsageTotals

    totals = UsageTotals()
    totals.add(result(model=f"{XSS} | m"), 0.5)
    totals.add(result(model="other"), 0.25)
    markdown = totals.table()
    _, html = _code_and_html(markdown)
    assert html == []
    cells = [
        t for t in MarkdownIt("commonmark").enable("table").parse(markdown) if t.type == "td_open"
    ]
    assert len(cells) == 16  # two rows of eight: the name's pipe split nothing


def _badges(markdown: str) -> list[str]:
    return re.findall(r'class="nbstream-badge[^"]*"[^>]*>([^<]*)</span>', markdown)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({}, ["finished"]),
        ({"finish_reason": "tool_calls"}, ["finished"]),
        ({"finish_reason": "length"}, ["stopped: max tokens"]),
        ({"finish_reason": "content_filter"}, ["filtered"]),
        ({"status": Status.INTERRUPTED}, ["interrupted"]),
        ({"status": Status.INCOMPLETE, "error": "connection lost"}, ["incomplete"]),
        ({"status": Status.INCOMPLETE, "finish_reason": None}, ["incomplete"]),
        ({"status": Status.FAILED}, ["failed"]),
        ({"replayed": True}, ["finished", "replayed"]),
        ({"status": Status.INTERRUPTED, "replayed": True}, ["interrupted", "replayed"]),
    ],
)
def test_every_reply_ends_with_a_badge_from_its_status_finish_reason_and_source(
    changes: dict, words: list[str]
) -> None:
    done = result(**changes)
    assert _badges(bundle(done, footer(done))["text/markdown"]) == words


def test_a_badge_is_white_on_a_colour_or_an_outline_and_never_needs_an_emoji_font() -> None:
    done = bundle(result(), footer(result()))["text/markdown"]
    assert "background-color:#1a7f37;color:#ffffff" in done
    live = bundle(result(), status_line(result(), 1.0), live=True)["text/markdown"]
    assert _badges(live) == ["streaming"] and "background-color" not in live
    waiting = status_line(result(timings=Timings()), 0.5)
    assert _badges(bundle(result(text=""), waiting, live=True)["text/markdown"]) == ["waiting"]
    lines = [footer(result(finish_reason=f)) for f in ("stop", "length", "content_filter")]
    lines += [status_line(result(), 1.0), waiting]
    # Emoji (⏳ among them) are drawn from an emoji font, which many machines lack.
    assert not [c for line in lines for c in line if 0x2300 <= ord(c) <= 0x23FF or ord(c) > 0xFFFF]


def test_a_footer_is_one_html_line_whatever_the_model_name_or_error_holds() -> None:
    hostile = result(model="m$x$ `y` \\z\n\n<b>w</b>")
    markdown = bundle(hostile, footer(hostile))["text/markdown"]
    tokens = _front_end().parse(markdown)
    blocks = [t for t in tokens if t.type == "html_block"]
    assert len(blocks) == 1 and "<b>" not in blocks[0].content
    assert "$" not in blocks[0].content and "`" not in blocks[0].content
    error = bundle(result(text=""), "✖ 401 from host: bad key")["text/markdown"]
    assert _badges(error) == ["failed"] and error.endswith("</span> 401 from host: bad key</div>")
