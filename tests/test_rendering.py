"""Rendering: model output made safe, the status and footer lines, the throttle."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbstream.engine.result import ChatResult, Status, Timings, ToolCall, Usage
from nbstream.show.rendering import (
    Throttle,
    bundle,
    ending,
    footer,
    paragraph_cut,
    safe_markdown,
    status_line,
)


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<iframe src="https://example.com"></iframe>',
        "<svg onload=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JavaScript :alert(1))",
        "[x]( javascript:alert(1))",
        "[x](jav&#x61;script:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html,<b>x</b>)",
        "[ref]: javascript:alert(1)\n\n[x][ref]",
        "![pixel](https://example.com/track.png)",
        "<a href='javascript:alert(1)'>x</a>",
    ],
)
def test_active_content_is_neutralised(evil: str) -> None:
    tokens = _parse(safe_markdown(evil))
    kinds = {t.type for t in tokens}
    assert not kinds & {"html_block", "html_inline", "image"}
    hrefs = [t.attrGet("href") or "" for t in tokens if t.type == "link_open"]
    for href in hrefs:
        # What a browser makes of it: tabs and newlines dropped, then an optional scheme.
        scheme = re.match(r"[a-z][a-z0-9+.-]*:", re.sub(r"[\t\n\r]", "", href).strip().lower())
        assert scheme is None or scheme.group() in ("http:", "https:", "mailto:")


def _parse(markdown: str) -> list:
    """Every token a CommonMark renderer (with HTML on, as Jupyter's is) makes of `markdown`."""
    from markdown_it import MarkdownIt

    flat, stack = [], MarkdownIt("commonmark", {"html": True}).parse(markdown)
    while stack:
        token = stack.pop()
        flat.append(token)
        stack.extend(token.children or ())
    return flat


def test_markdown_code_tables_math_and_quotes_survive() -> None:
    text = (
        "# Title\n\n> quoted\n>> nested\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "$e^{i\\pi}+1=0$ and a < b > c\n\n```python\nif a < b and c > d:\n    x = '<b>'\n```\n"
        "inline `<i>code</i>` stays"
    )
    safe = safe_markdown(text)
    assert safe.startswith("# Title\n\n> quoted\n>> nested\n\n| a | b |")
    assert "$e^{i\\pi}+1=0$ and a &lt; b &gt; c" in safe
    assert "```python\nif a < b and c > d:\n    x = '<b>'\n```" in safe
    assert "`<i>code</i>`" in safe


def test_an_unclosed_fence_while_streaming_stays_code() -> None:
    assert safe_markdown("Look:\n```html\n<b>bold") == "Look:\n```html\n<b>bold"


@given(st.text())
def test_safe_markdown_never_lets_a_tag_through_outside_code(text: str) -> None:
    safe = safe_markdown(text)
    if "`" not in text and "~~~" not in text:
        assert "<" not in safe


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
    assert "<sub>footer</sub>" in data["text/markdown"]
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


def test_a_long_reply_is_cut_at_a_paragraph_break_outside_code() -> None:
    para = "word " * 10 + "\n\n"  # 52 characters
    code = "```\ncode\n\nmore code\n```\n"
    text = para * 3 + code + para + "tail"
    assert paragraph_cut(text, 0, len(text)) is None
    assert paragraph_cut(text, 0, 120) == len(para) * 2  # the last break within the limit
    assert paragraph_cut(text, 0, 20) == len(para)  # none within: the first one after
    after_code = len(para) * 3 + len(code) + len(para)
    assert paragraph_cut(text, len(para) * 3, 10) == after_code  # never inside the fence
    assert paragraph_cut("```python\n" + "x = 1\n\n" * 20, 0, 10) is None
