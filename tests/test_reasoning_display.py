"""What the user sees of reasoning: the live section, its folded form, the status line, the
footer; and that reasoning text is as untrusted as the answer."""

from __future__ import annotations

from markdown_it import MarkdownIt

from nbstream.engine.accumulate import STOPPED_REASONING
from nbstream.engine.result import ChatResult, Status, Timings, Usage
from nbstream.show.panel_html import reply_html
from nbstream.show.rendering import bundle, footer, reply_markdown, status_line

XSS = "<img src=x onerror=alert(1)>"


def thinking(**changes) -> ChatResult:
    """A reply 8.1 s into its reasoning, no answer yet."""
    base = {
        "reasoning": "Compare 9.11 and 9.80.",
        "status": Status.INCOMPLETE,
        "model": "deepseek-reasoner",
        "usage": Usage(15, 312, 327, estimated=True, reasoning_tokens=312),
        "timings": Timings(0.0, 0.4, 8.1, 8.1),
    }
    return ChatResult(**{**base, **changes})


def answered(**changes) -> ChatResult:
    """Reasoning from 0.4 s, the answer from 8.3 s to 9.3 s."""
    base = {
        "text": "9.8 is greater.",
        "reasoning": "Compare 9.11 and 9.80.",
        "finish_reason": "stop",
        "model": "deepseek-reasoner",
        "usage": Usage(15, 401, 416, reasoning_tokens=312, cached_tokens=12),
        "timings": Timings(0.0, 0.4, 9.3, 9.5, first_answer_token=8.3),
    }
    return ChatResult(**{**base, **changes})


def shown(markdown: str) -> str:
    """The HTML a notebook renders from `markdown`."""
    return MarkdownIt("commonmark", {"html": True}).render(markdown)


def html_of(markdown: str) -> list[str]:
    tokens = MarkdownIt("commonmark", {"html": True}).parse(markdown)
    inline = [c.content for t in tokens for c in t.children or [] if c.type == "html_inline"]
    return [t.content for t in tokens if t.type == "html_block"] + inline


def test_while_thinking_the_status_line_says_so_with_tokens_and_time() -> None:
    assert status_line(thinking(), 8.1) == "thinking · 312 tokens · 8.10 s"


def test_reasoning_streams_live_above_the_answer_then_folds() -> None:
    live = reply_markdown(thinking())
    assert "💭 thinking…" in live and "> Compare 9.11 and 9.80." in live
    assert "<details>" not in live
    final = shown(reply_markdown(answered()))
    assert final.startswith("<details><summary>💭 Reasoning · 312 tokens · 7.90 s</summary>")
    assert final.index("</details>") < final.index("9.8 is greater.")


def test_reasoning_text_is_untrusted_inside_the_folded_section() -> None:
    final = reply_markdown(answered(reasoning=f"Try {XSS} </details><script>x()</script>"))
    assert {h.strip() for h in html_of(final)} <= {
        "<details><summary>💭 Reasoning · 312 tokens · 7.90 s</summary>", "</details>"
    }  # fmt: skip


def test_hidden_reasoning_is_said_as_a_count() -> None:
    hidden = answered(
        reasoning="",
        usage=Usage(9, 1029, 1038, reasoning_tokens=1024),
        timings=Timings(0.0, 8.0, 8.4, 8.5, first_answer_token=8.0),
    )
    assert "💭 1,024 reasoning tokens (hidden)" in shown(reply_markdown(hidden))
    line = footer(hidden)
    assert "reasoning 1,024 (hidden)" in line and "tok/s (answer only)" in line
    assert "answer after" not in line
    assert "[1,024 reasoning tokens (hidden)]" in bundle(hidden, line)["text/plain"]


def test_the_footer_tells_reasoning_cache_and_when_the_answer_began() -> None:
    line = footer(answered(), cost=0.0021)
    assert "15 → 401 tokens (416) · reasoning 312 · cached 12 · first token 0.40 s" in line
    assert "answer after 8.30 s" in line
    assert "tok/s (answer only)" not in line and "$0.0021" in line


def test_a_cost_the_server_reports_wins_and_an_unknown_price_is_said() -> None:
    reported = answered(usage=Usage(15, 401, 416, cost=0.5))
    assert "$0.5000" in footer(reported, cost=0.0021)
    assert "price unknown" in footer(answered(backend="api.example.com"), priced=False)


def test_stopped_while_reasoning_says_so_and_keeps_the_reasoning() -> None:
    stopped = thinking(error=STOPPED_REASONING, finish_reason="length")
    assert "stopped by max_tokens while reasoning" in footer(stopped)
    assert "Compare 9.11 and 9.80." in shown(reply_markdown(stopped))


def test_the_panel_folds_reasoning_in_its_own_html_and_keeps_it_text() -> None:
    shown = reply_html(answered(reasoning=f"Try {XSS}"))
    assert shown.count("<details") == 1 and "<img" not in shown and "&lt;img" in shown
    assert shown.index("</details>") < shown.index("9.8 is greater.")
    assert "💭 thinking…" in reply_html(thinking())
