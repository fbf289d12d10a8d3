"""One-off outputs of `%chat` subcommands: a Markdown note, a thread's transcript, a panel."""

from __future__ import annotations

from typing import Any

from IPython.display import display

from ..store.threads import Thread
from .rendering import transcript_markdown, transcript_text


def show_markdown(markdown: str) -> None:
    """Show nbstream's own Markdown (never model text: that goes through the safe renderer)."""
    text = markdown or "Nothing here yet."
    display({"text/markdown": text, "text/plain": text}, raw=True)


def show_transcript(thread: Thread) -> None:
    """Show a thread's exchanges as one output."""
    bundle = {"text/markdown": transcript_markdown(thread), "text/plain": transcript_text(thread)}
    display(bundle, raw=True)


def show_widget(widget: Any) -> None:
    """Show a widget-backed object such as the chat panel."""
    display(widget)
