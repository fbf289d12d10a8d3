"""One-off outputs of `%chat` subcommands: a Markdown note, a thread's transcript, a panel."""

from __future__ import annotations

import re
import time
from typing import Any

from IPython.display import display

from ..store.cache import ResponseCache
from ..store.threads import Thread
from .markdown import literal
from .rendering import transcript_markdown, transcript_text


def show_markdown(markdown: str, plain: str | None = None) -> None:
    """Show nbstream's own Markdown (never model text: that goes through the safe renderer).

    `plain` is what a terminal or a headless run prints, when the Markdown's escapes would show.
    """
    text = markdown or "Nothing here yet."
    display({"text/markdown": text, "text/plain": plain or text}, raw=True)


def show_transcript(thread: Thread) -> None:
    """Show a thread's exchanges as one output."""
    bundle = {"text/markdown": transcript_markdown(thread), "text/plain": transcript_text(thread)}
    display(bundle, raw=True)


def show_widget(widget: Any) -> None:
    """Show a widget-backed object such as the chat panel."""
    display(widget)


def cache_table(cache: ResponseCache) -> str:
    """The recorded replies as a Markdown table: date, model, prompt, tokens."""
    entries = cache.entries()
    if not entries:
        return f"No recorded replies in {literal(cache.where)}."
    rows = ["| recorded (UTC) | model | prompt | tokens |", "|---|---|---|---:|"]
    for e in entries:
        date = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.created))
        tokens = f"{e.prompt_tokens} → {e.completion_tokens}"
        rows.append(f"| {date} | {_name(e.model)} | {literal(e.preview)} | {tokens} |")
    return "\n".join([*rows, "", f"{len(entries)} recorded in {literal(cache.where)}"])


def _name(model: str) -> str:
    # A plain model name reads better unescaped, and is Markdown-inert as it is.
    return model if re.fullmatch(r"[\w.:/@+-]+", model) else literal(model)
