"""The chat panel's HTML: messages, stats, errors, the theme, and the saved transcript.

`widgets.HTML` puts its value into the page with innerHTML, unsanitized, so every piece of
HTML the panel shows is built here, model text through `markdown.safe_html` (no raw HTML,
no images, allow-listed links opened in a new tab): it can neither run script nor load
remote content. Pure functions; no widgets, no I/O.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..engine.result import ChatResult, Status
from ..store.threads import Thread
from .badge import line_html, split
from .markdown import code_block, safe_html
from .reasoning import reasoning_html, round_reasoning_html
from .rendering import reasoning_time, reply_markdown, transcript_markdown, transcript_text
from .tooluse import run_summary


def render_markdown(text: str) -> str:
    """HTML for Markdown from an untrusted source: no raw HTML, images or script links."""
    return safe_html(text)


def user_html(text: str) -> str:
    """A user message."""
    return f'<div class="nbstream-role">You</div>{render_markdown(text)}'


def reply_html(result: ChatResult) -> str:
    """An assistant reply so far (notices first), without its stats line."""
    notes = "".join(f'<div class="nbstream-notice">{html.escape(n)}</div>' for n in result.notices)
    role = html.escape(result.model or "Assistant")
    thought = reasoning_html(result, reasoning_time(result), render_markdown)
    shown = reply_markdown(result, reasoning=False, rounds=False)
    body = render_markdown(shown) if _has_body(result) else ""
    return f'<div class="nbstream-role">{role}</div>{notes}{rounds_html(result)}{thought}{body}'


def rounds_html(result: ChatResult) -> str:
    """The tool rounds for the panel: each round's reasoning and calls, folded. The panel's
    Markdown allows no raw HTML, so the `<details>` are built here."""
    live, parts = result.status is Status.INCOMPLETE, []
    for one in result.tool_rounds:
        parts.append(round_reasoning_html(one.reasoning, safe_html))
        for run in one.runs:
            body = code_block(run.arguments or "{}", "json")
            body += f"\n\n{code_block(run.output)}" if run.output else ""
            parts.append(_folded(html.escape(run_summary(run, live)), safe_html(body)))
    return "".join(parts)


def _folded(summary: str, body: str) -> str:
    return f'<details class="nbstream-tool"><summary>{summary}</summary>{body}</details>'


def _has_body(result: ChatResult) -> bool:
    return bool(result.text or result.refusal or result.tool_calls)


def stats_html(result: ChatResult, line: str, *, live: bool = False) -> str:
    """The small line under a reply, led by its badge: the footer, or the status while it
    streams (`live`)."""
    return line_html(*split(result, line, live=live))


def error_html(message: str, hint: str = "") -> str:
    """An error shown in the conversation, with the engine's hint."""
    hint_html = f'<div class="nbstream-hint">hint: {html.escape(hint)}</div>' if hint else ""
    return f'<div class="nbstream-error-message">✖ {html.escape(message)}</div>{hint_html}'


def exchange_html(user: str, result: ChatResult, footer_line: str) -> str:
    """A past exchange as one block: it never changes, so it is one widget."""
    stats = f'<div class="nbstream-stats">{stats_html(result, footer_line)}</div>'
    return (
        f'<div class="nbstream-message nbstream-user">{user_html(user)}</div>'
        f'<div class="nbstream-message nbstream-assistant">{reply_html(result)}{stats}</div>'
    )


def header_html(thread: str, totals: str) -> str:
    """The panel's title line: thread name and running totals."""
    return (
        f'<span class="nbstream-title">nbstream chat · thread <code>{html.escape(thread)}</code>'
        f'</span><span class="nbstream-totals">{html.escape(totals)}</span>'
    )


def totals_line(
    results: Sequence[ChatResult], *, streaming: bool = False, live: ChatResult | None = None
) -> str:
    """The panel's running total: requests, tokens, mean decode speed of the finished
    replies; while one streams, the tokens it has generated (`live`) count too, and the line
    says so."""
    tokens = sum(r.usage.total_tokens for r in results)
    # Its prompt is counted when it ends: the estimate of the whole can dip as text arrives.
    tokens += live.usage.completion_tokens if live is not None else 0
    if not tokens and not results:
        return "streaming the first reply" if streaming else "no requests yet"
    approx = "≈" if live is not None or any(r.usage.estimated for r in results) else ""
    rates = [r.tokens_per_second for r in results if r.tokens_per_second]
    speed = f" · mean {sum(rates) / len(rates):.1f} tok/s" if rates else ""
    count = len(results) + (1 if streaming else 0)
    more = " · streaming" if streaming else ""
    return f"{count} request{'s' if count != 1 else ''} · {approx}{tokens} tokens{speed}{more}"


def transcript_bundle(thread: Thread) -> dict[str, str]:
    """The output the saved notebook keeps: the thread as (collapsed) Markdown and as text."""
    turns = len(thread.exchanges)
    plural = "" if turns == 1 else "s"
    title = f"nbstream chat transcript · thread {thread.name} · {turns} turn{plural}"
    markdown = transcript_markdown(thread) or "*No messages yet.*"
    # Collapsed, so the live notebook does not show the conversation twice; JupyterLab
    # renders <details> in Markdown outputs (checked in 4.x), as GitHub and nbconvert do.
    summary = f"<details><summary>{html.escape(title)}</summary>"
    return {
        "text/markdown": f"{summary}\n\n{markdown}\n\n</details>",
        "text/plain": f"{title}\n\n{transcript_text(thread)}".rstrip(),
    }


#: Scoped to the panel; JupyterLab's theme variables make it follow light and dark themes
#: (Notebook 7 defines the same variables). A column of messages (the user's as bubbles on the
#: right, replies full width), the header above and the input row below, as chat apps have it.
PANEL_CSS = """<style>
.nbstream-panel { border: 1px solid var(--jp-border-color2); border-radius: 8px;
  background: var(--jp-layout-color1); color: var(--jp-ui-font-color1); max-width: 56em;
  padding: 0 0 8px; gap: 0; overflow: hidden; }
.nbstream-panel .nbstream-header { align-items: center; gap: 8px; padding: 6px 10px;
  border-bottom: 1px solid var(--jp-border-color2); flex-wrap: wrap; }
.nbstream-panel .nbstream-heading { flex: 1 1 16em; min-width: 0; }
.nbstream-panel .nbstream-heading .widget-html-content { display: flex; flex-direction: column;
  line-height: 1.3; }
.nbstream-panel .nbstream-title { font-weight: 600; font-size: var(--jp-ui-font-size1); }
.nbstream-panel .nbstream-model { flex: 0 1 16em; width: auto; margin: 0; }
.nbstream-panel .nbstream-model input { border-radius: 6px; }
.nbstream-panel .nbstream-new { width: auto; margin: 0; padding: 0 12px; border-radius: 6px; }
.nbstream-panel .nbstream-totals, .nbstream-panel .nbstream-stats,
.nbstream-panel .nbstream-stats .widget-html-content { color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0); }
.nbstream-panel .nbstream-messages { display: flex; flex-direction: column-reverse;
  overflow-y: auto; max-height: 32em; padding: 4px 12px; }
.nbstream-panel .nbstream-list { width: 100%; gap: 2px; }
.nbstream-panel .widget-html, .nbstream-panel .widget-html-content { height: auto;
  line-height: 1.5; white-space: normal; width: 100%; margin: 0; }
.nbstream-panel .nbstream-exchange .widget-html-content { display: flex;
  flex-direction: column; }
.nbstream-panel .nbstream-message { padding: 2px 0; margin: 6px 0 0; min-width: 0;
  color: var(--jp-content-font-color1); font-family: var(--jp-content-font-family);
  font-size: var(--jp-content-font-size1); overflow-wrap: anywhere; }
.nbstream-panel .nbstream-user { align-self: flex-end; width: fit-content; max-width: 85%;
  background: var(--jp-layout-color2); border-radius: 14px; padding: 4px 14px; }
.nbstream-panel .nbstream-user .widget-html-content { width: auto; }
.nbstream-panel .nbstream-user .nbstream-role { display: none; }
.nbstream-panel .nbstream-message > :last-child,
.nbstream-panel .nbstream-message .widget-html-content > :last-child { margin-bottom: 0; }
.nbstream-panel .nbstream-message p { margin: 0.4em 0; }
.nbstream-panel .nbstream-error { border-left: 3px solid var(--jp-error-color1);
  padding-left: 8px; align-items: center; gap: 8px; }
.nbstream-panel .nbstream-error-message { color: var(--jp-error-color1); }
.nbstream-panel .nbstream-hint, .nbstream-panel .nbstream-notice {
  color: var(--jp-ui-font-color2); font-style: italic; }
.nbstream-panel .nbstream-role { font-weight: 600; font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color2); }
.nbstream-panel .nbstream-streaming .widget-html-content > :last-child::after {
  content: "\\258D"; color: var(--jp-brand-color1); }
.nbstream-panel .nbstream-assistant + .nbstream-stats { margin: 0 0 4px; }
.nbstream-panel .nbstream-stats .nbstream-footer { margin-top: 2px; }
.nbstream-panel .nbstream-message blockquote { margin: 0.5em 0; padding: 0 0 0 0.8em;
  border-left: 3px solid var(--jp-border-color1); color: var(--jp-ui-font-color2); }
.nbstream-panel .nbstream-system textarea { font-family: var(--jp-content-font-family);
  font-size: var(--jp-content-font-size1); }
.nbstream-panel .nbstream-message pre { position: relative;
  background: var(--jp-cell-editor-background); border: 1px solid var(--jp-border-color2);
  border-radius: 6px; padding: 8px 10px; overflow-x: auto; white-space: pre; }
.nbstream-panel .nbstream-copy { position: absolute; top: 4px; right: 4px; cursor: pointer;
  font: var(--jp-ui-font-size0) var(--jp-ui-font-family); color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color1); border: 1px solid var(--jp-border-color1);
  border-radius: 4px; padding: 1px 6px; }
.nbstream-panel .nbstream-copy:hover, .nbstream-panel .nbstream-copy:focus {
  border-color: var(--jp-brand-color1); }
.nbstream-panel .nbstream-copy::before { content: "Copy"; }
.nbstream-panel .nbstream-copy[data-state="copied"]::before { content: "Copied"; }
.nbstream-panel .nbstream-copy[data-state="failed"]::before { content: "Copy failed"; }
.nbstream-panel .nbstream-message code { font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size); }
.nbstream-panel .nbstream-message a { color: var(--jp-content-link-color); }
.nbstream-panel .nbstream-message table { border-collapse: collapse; }
.nbstream-panel .nbstream-message th, .nbstream-panel .nbstream-message td {
  border: 1px solid var(--jp-border-color2); padding: 2px 6px; }
.nbstream-panel .nbstream-input { width: auto; margin: 8px 12px 0; align-self: stretch; }
.nbstream-panel .nbstream-input-row { display: flex; align-items: flex-end; gap: 6px;
  border: 1px solid var(--jp-border-color1); border-radius: 10px; padding: 4px 4px 4px 10px;
  background: var(--jp-layout-color0); }
.nbstream-panel .nbstream-input-row:focus-within { border-color: var(--jp-brand-color1); }
.nbstream-panel .nbstream-input textarea { flex: 1 1 auto; min-width: 0; border: none;
  outline: none; resize: none; min-height: 2.6em; padding: 4px 0; background: transparent;
  color: var(--jp-ui-font-color1); font-family: var(--jp-content-font-family);
  font-size: var(--jp-content-font-size1); }
.nbstream-panel .nbstream-action { flex: 0 0 auto; min-width: 4.5em; height: 2.2em;
  border: none; border-radius: 7px; cursor: pointer; font: 600 var(--jp-ui-font-size1)
  var(--jp-ui-font-family); background: var(--jp-brand-color1);
  color: var(--jp-ui-inverse-font-color1); }
.nbstream-panel .nbstream-action.nbstream-stopping { background: var(--jp-layout-color3);
  color: var(--jp-ui-font-color1); }
.nbstream-panel .nbstream-busy { margin: 4px 2px 0; padding: 2px 8px; border-radius: 4px;
  font-size: var(--jp-ui-font-size1); background: var(--jp-warn-color3);
  color: var(--jp-ui-font-color1); }
.nbstream-panel .nbstream-busy[hidden] { display: none; }
.nbstream-panel .nbstream-options { margin: 4px 12px 0; width: auto; }
.nbstream-panel .nbstream-options .jupyter-widget-Collapse-header {
  background: transparent; border: none; padding: 2px 0; font-weight: normal;
  font-size: var(--jp-ui-font-size1); color: var(--jp-ui-font-color2); }
.nbstream-panel .nbstream-options .jupyter-widget-Collapse-contents {
  background: transparent; border: none; padding: 4px 0; }
</style>"""
