"""A thread written to a file: Markdown from the one transcript renderer, or the store's JSON."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..engine.result import ChatResult
from ..store.exports import write_atomic
from ..store.records import Thread, as_json, summary
from .markdown import literal
from .rendering import MARKDOWN_FORM, footer, reply_markdown, transcript


def _document_reply(result: ChatResult) -> str:
    """A reply as the document shows it: its text, its error if it failed, its footer."""
    parts = [reply_markdown(result).strip(), f"*{literal(result.error)}*" if result.error else ""]
    return "\n\n".join([*filter(None, parts), f"*{literal(footer(result))}*"])


_DOCUMENT = replace(MARKDOWN_FORM, reply=_document_reply)


def transcript_document(thread: Thread) -> str:
    """The thread as a Markdown document: its name and summary, then every message, each
    reply with its footer; model output made safe, as in the notebook."""
    head = f"# Conversation {literal(thread.name)}\n\n*{literal(summary(thread.exchanges))}*"
    body = transcript(thread, _DOCUMENT)
    return f"{head}\n\n{body}\n" if body else f"{head}\n"


def export(thread: Thread, path: Path) -> Path:
    """Write `thread` to `path` as Markdown (.md, .markdown) or JSON (.json), privately and
    in one step."""
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        text = transcript_document(thread)
    elif suffix == ".json":
        text = as_json(thread)
    else:
        raise ValueError(f"cannot export to {path.name!r}: use a .md or .json file name")
    write_atomic(path, text)
    return path
