"""How a reply's reasoning is shown: live above the answer, folded once the answer starts.

The reasoning streams as a dimmed quote; once the answer begins it folds into a `<details>`
element (GitHub and nbconvert show it folded too), whose summary line gives its size and time.
Reasoning a server counted but never sent, or that the user hid, is said as a count. The
reasoning text is model output: it goes through `safe_markdown` like the answer.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from ..engine.accumulate import STOPPED_REASONING
from ..engine.result import ChatResult, estimate_tokens
from .markdown import literal, safe_markdown


def reasoning_tokens(result: ChatResult) -> int:
    """The reasoning tokens: as the server counted them, else an estimate from the text."""
    counted = result.usage.reasoning_tokens
    return counted if counted is not None else estimate_tokens(result.reasoning)


def thinking(result: ChatResult) -> bool:
    """Reasoning has begun and the answer has not."""
    answered = result.text or result.refusal or result.tool_calls
    reasoned = result.reasoning or result.usage.reasoning_tokens
    return result.timings.first_token is not None and not answered and bool(reasoned)


def reasoning_seconds(result: ChatResult) -> float | None:
    """How long the visible reasoning lasted: to the answer's first token, or to the last."""
    timings = result.timings
    if timings.first_token is None or timings.first_answer_token == timings.first_token:
        return None
    end = (
        timings.first_answer_token if timings.first_answer_token is not None else timings.last_token
    )
    return None if end is None else end - timings.first_token


def _summary(result: ChatResult, seconds: str) -> str:
    tokens = reasoning_tokens(result)
    if not result.reasoning:
        return f"💭 {tokens:,} reasoning tokens (hidden)"
    if thinking(result) and result.finish_reason is None:
        return "💭 thinking…"
    return f"💭 Reasoning · {_tokens(tokens)}" + (f" · {seconds}" if seconds else "")


def _tokens(count: int) -> str:
    return f"{count:,} token" + ("" if count == 1 else "s")


def _quoted(text: str) -> str:
    lines = safe_markdown(text).split("\n")
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _folded(result: ChatResult) -> bool:
    return bool(result.reasoning) and not (thinking(result) and result.finish_reason is None)


def reasoning_markdown(result: ChatResult, seconds: str) -> str:
    """The reasoning section above the answer ('' when there was none): a live quote while
    the model thinks, then a folded `<details>`; a count when the text is hidden."""
    if not result.reasoning and not result.usage.reasoning_tokens:
        return ""
    summary = literal(_summary(result, seconds))
    if not result.reasoning:
        return f"*{summary}*"
    if not _folded(result):
        return f"*{summary}*\n\n{_quoted(result.reasoning)}"
    return f"<details><summary>{summary}</summary>\n\n{_quoted(result.reasoning)}\n\n</details>"


def round_reasoning_markdown(text: str) -> str:
    """A tool round's reasoning, folded above its calls ('' when it showed none)."""
    if not text:
        return ""
    summary = literal(_round_summary(text))
    return f"<details><summary>{summary}</summary>\n\n{_quoted(text)}\n\n</details>"


def round_reasoning_html(text: str, render: Callable[[str], str]) -> str:
    """A tool round's reasoning for the panel, folded ('' when it showed none)."""
    if not text:
        return ""
    summary, body = html.escape(_round_summary(text)), render(_quoted(text))
    return f'<details class="nbstream-reasoning"><summary>{summary}</summary>{body}</details>'


def _round_summary(text: str) -> str:
    return f"💭 Reasoning · {_tokens(estimate_tokens(text))}"


def reasoning_html(result: ChatResult, seconds: str, render: Callable[[str], str]) -> str:
    """The reasoning section as HTML for the panel, whose Markdown renderer allows no raw HTML:
    the `<details>` is built here and only the reasoning goes through `render`."""
    if not result.reasoning and not result.usage.reasoning_tokens:
        return ""
    summary = html.escape(_summary(result, seconds))
    if not result.reasoning:
        return f'<div class="nbstream-notice">{summary}</div>'
    body = render(_quoted(result.reasoning))
    if not _folded(result):
        return f'<div class="nbstream-reasoning" style="opacity:.7">{summary}{body}</div>'
    return f'<details class="nbstream-reasoning"><summary>{summary}</summary>{body}</details>'


def reasoning_plain(result: ChatResult) -> str:
    """The reasoning as one plain-text line ('' when there was none)."""
    tokens = reasoning_tokens(result)
    if not tokens:
        return ""
    if not result.reasoning:
        return f"[{tokens:,} reasoning tokens (hidden)]"
    return (
        f"[thinking: {tokens:,} tokens]" if thinking(result) else f"[reasoned: {tokens:,} tokens]"
    )


def thinking_line(result: ChatResult, elapsed: str) -> str | None:
    """The status line while the model thinks: 'thinking · 312 tokens · 8.1 s'; None once
    the answer has begun."""
    if not thinking(result):
        return None
    return f"thinking · {_tokens(reasoning_tokens(result))} · {elapsed}"


def usage_facts(result: ChatResult) -> list[str]:
    """The footer's reasoning and cache counts: 'reasoning 1,024 (hidden)', 'cached 512'."""
    usage, facts = result.usage, []
    if usage.reasoning_tokens:
        facts.append(
            f"reasoning {usage.reasoning_tokens:,}" + (" (hidden)" if not result.reasoning else "")
        )
    if usage.cached_tokens:
        facts.append(f"cached {usage.cached_tokens:,}")
    return facts


def answer_after(result: ChatResult) -> float | None:
    """When the answer began, if reasoning came before it."""
    timings = result.timings
    first, answer = timings.first_token, timings.first_answer_token
    return answer if first is not None and answer is not None and answer > first else None


def stopped_reasoning(result: ChatResult) -> bool:
    """The token limit ended the reply while the model was still reasoning."""
    return result.error == STOPPED_REASONING
