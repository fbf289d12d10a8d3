"""The status badge and the line it leads: a word and a colour under every reply.

The same HTML serves cells (inside their Markdown), grids and the panel. A notebook reopened
untrusted goes through JupyterLab's sanitiser, which keeps `class` and inline styles whose
colours are hex or rgba but drops `var(--jp-…)` and `<style>` (checked in JupyterLab 4.6):
so the badge is white text on a solid colour (readable on light and dark pages alike), a live
state is an outline in the text's own colour, and the line is set apart by a translucent rule.
Text is written with character references only, so no Markdown or math pass reads syntax in it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..engine.result import ChatResult, Status

#: Background of each final badge; white text on each has a contrast ratio of 4.5 or more.
COLOURS = {
    "finished": "#1a7f37",
    "stopped: max tokens": "#8a5a00",
    "filtered": "#8a5a00",
    "interrupted": "#57606a",
    "incomplete": "#bc4c00",
    "failed": "#cf222e",
    "replayed": "#0969da",
}
#: How the plain text marks the line of an error that ended a turn before any reply.
ERROR_MARK = "✖ "
#: The words of a reply still on its way (outlined, not filled).
LIVE = ("waiting", "thinking", "streaming")
_BADGE = "display:inline-block;padding:0 0.45em;border-radius:0.7em;font-weight:600;"
_FILLED = _BADGE + "background-color:{};color:#ffffff"
_OUTLINED = _BADGE + "border:1px solid rgba(128,128,128,0.7)"
_LINE = (
    "border-top:1px solid rgba(128,128,128,0.35);margin-top:0.6em;padding-top:0.3em;"
    "font-size:85%;line-height:1.6"
)
_EXTRA = {"$": "&#36;", "\\": "&#92;", "`": "&#96;", "\n": " "}


@dataclass(frozen=True)
class Badge:
    """A status word; `colour` is its background, or "" for a live (outlined) badge."""

    word: str
    colour: str = ""


def status_word(result: ChatResult) -> str:
    """The final status of a reply, from its status and finish reason."""
    if result.status is Status.COMPLETE:
        return {"length": "stopped: max tokens", "content_filter": "filtered"}.get(
            result.finish_reason or "", "finished"
        )
    return str(result.status.value)


def final_badges(result: ChatResult) -> tuple[Badge, ...]:
    """The status badge, and *replayed* beside it for a reply from the response cache."""
    word = status_word(result)
    replayed = (Badge("replayed", COLOURS["replayed"]),) if result.replayed else ()
    return (Badge(word, COLOURS[word]), *replayed)


def live_badge(line: str) -> Badge:
    """The badge of a status line while a reply streams: its first word, else waiting."""
    word = line.split(" ", 1)[0]
    return Badge(word if word in LIVE else "waiting")


def text(value: str) -> str:
    """`value` as HTML text that Markdown, math passes and HTML all read as that text."""
    escaped = html.escape(value, quote=True)
    return "".join(_EXTRA.get(char, char) for char in escaped)


def badge_html(badge: Badge) -> str:
    """One badge: a coloured word (or an outlined one while live)."""
    style = _FILLED.format(badge.colour) if badge.colour else _OUTLINED
    kind = badge.word.split(":")[0].replace(" ", "-")
    classes = f"nbstream-badge nbstream-badge-{kind}"
    return f'<span class="{classes}" style="{style}">{text(badge.word)}</span>'


def line_html(badges: tuple[Badge, ...], rest: str) -> str:
    """The line under a reply: badges, then the details, on one HTML line apart from the reply."""
    lead = " ".join(badge_html(b) for b in badges)
    details = f" {text(rest)}" if rest else ""
    return f'<div class="nbstream-footer" style="{_LINE}">{lead}{details}</div>'


def split(result: ChatResult, line: str, *, live: bool) -> tuple[tuple[Badge, ...], str]:
    """The badges of a status line or footer, and what the line says besides them."""
    if live:
        badge = live_badge(line)
        own = line.startswith(badge.word)
        return (badge,), line.removeprefix(badge.word).lstrip(" ·") if own else line
    if line.startswith(ERROR_MARK):  # an error before any reply: the error says why
        rest = line.removeprefix(ERROR_MARK)
        return (Badge("failed", COLOURS["failed"]),), "" if rest == "failed" else rest
    badges = final_badges(result)
    # The footer says why the reply stopped; a bare "finished" is the badge's word already.
    parts = [p for p in line.split(" · ") if p != badges[0].word]
    return badges, " · ".join(parts)
