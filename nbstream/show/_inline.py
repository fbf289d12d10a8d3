"""Inline Markdown from markdown-it tokens: text escaped, links checked, math kept apart.

What a parser read as text is written back so that no front end can read it as anything else:
backslash, backtick, `$`, `<`, `>` and `&` as character references (which neither
JupyterLab's math pass nor any Markdown parser treats as syntax); the punctuation that makes
emphasis, links, tables and (at the start of a line) blocks backslash-escaped. Code spans stay
on one line, so that JupyterLab's math pass (which knows only one-line spans and column-0
fences) protects the `$` inside them. Math is `$…$` or `$$…$$` inside one run of text: never
across code, a link or emphasis.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it.token import Token


_ENTITIES = {"\\": "&#92;", "`": "&#96;", "$": "&#36;", "<": "&lt;", ">": "&gt;", "&": "&amp;"}
_ESCAPED = frozenset("!#*[]_|~")  # `!` too: before a link this renderer writes, an image
_LINE_START = frozenset("+-=")  # lists, thematic breaks and setext underlines
#: TeX commands that make links, styles, classes, ids or loads in MathJax or KaTeX. A word
#: joiner after the backslash leaves the command an unknown one wherever math is typeset,
#: including JupyterLab's pass over the rendered page.
_TEX_ACTIVE = re.compile(
    r"\\(?=(?:href|url|style|class|cssId|data|html[A-Za-z]*|bbox|mmlToken|require|"
    r"includegraphics|unicode|toggle|mathtip|texttip|action)(?![A-Za-z]))"
)
_WORD_JOINER = "\u2060"
#: Characters that are never syntax in the middle of a line (the line-start ones, spaces
#: included, are syntax only at its start), run by run.
_PLAIN = re.compile(
    "[^" + re.escape("".join(sorted({*_ENTITIES, *_ESCAPED, ":", ".", ")", "\n"}))) + "]+"
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_URL_KEEP = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#@!=+,;%"
)


@dataclass(frozen=True)
class Context:
    """Where inline content goes: a table cell (pipes escaped) or one line (a heading)."""

    table: bool = False
    one_line: bool = False


def render(tokens: Sequence[Token], context: Context) -> str:
    """Safe Markdown for an inline token sequence; newlines only where the source broke lines."""
    out: list[str] = []
    run: list[tuple[str, str]] = []  # the current run of text: (character, its TeX source)
    links: list[Token] = []  # the links open around the current token
    for token in tokens:
        if token.type in ("text", "text_special", "softbreak"):
            run.extend(_chars(token, context))
            continue
        out.append(_run(run, context, line_start=not out or out[-1].endswith("\n")))
        run = []
        if token.type == "link_open":
            links.append(token)
        opener = links.pop() if token.type == "link_close" and links else token
        if opener.type == "link_open":
            out.append(_link_part(token, opener))
        else:
            out.append(_other(token, context))
    out.append(_run(run, context, line_start=not out or out[-1].endswith("\n")))
    return "".join(out)


def _link_part(token: Token, opener: Token) -> str:
    """`[` and `](url)` around an allowed link; nothing around another (its text stays)."""
    if not link_allowed(opener):
        return ""
    return "[" if token.type == "link_open" else f"]({url(href(opener))})"


def _chars(token: Token, context: Context) -> list[tuple[str, str]]:
    """Each character with what it stands for inside math: itself; a backslash escape's
    source (`\\{`, `\\\\` are TeX); nothing for an entity (math is not written that way)."""
    if token.type == "softbreak":
        return [(" " if context.one_line else "\n", "\n")]
    if token.type == "text_special" and token.info == "escape" and len(token.content) == 1:
        return [(token.content, token.markup)]
    if token.type == "text_special" and token.info != "escape":
        return [(char, "") for char in token.content]
    return [(char, char) for char in token.content]


def _other(token: Token, context: Context) -> str:
    if token.type == "code_inline":
        return code_span(token.content, table=context.table)
    if token.type == "hardbreak":
        return " " if context.one_line else "\\\n"
    if token.type == "image":
        return _image(token, context)
    if token.type in ("em_open", "em_close", "strong_open", "strong_close"):
        return token.markup
    if token.type in ("s_open", "s_close"):
        return "~~"
    # Raw HTML, and anything this renderer does not know, shows as the text it is.
    return escape(token.content, line_start=False)


def _image(token: Token, context: Context) -> str:
    """An image becomes a plain link to its source (or just its description): nothing loads."""
    alt = render(token.children or [], context) or "image"
    return f"[{alt}]({url(href(token))})" if link_allowed(token) else alt


def href(token: Token) -> str:
    """The URL a link or image token points to (markdown-it gives every one an href or src)."""
    return str(token.attrGet("href") or token.attrGet("src"))


def link_allowed(token: Token) -> bool:
    """Whether a link or image may stay a link: http(s), mailto, relative, #."""
    scheme = _SCHEME.match(url(href(token)))
    return scheme is None or scheme.group(1).lower() in SAFE_SCHEMES


def url(target: str) -> str:
    """A link destination every parser reads back unchanged and no math pass can enter:
    `&` as a reference, everything outside a plain set percent-encoded."""
    return "".join(_url_char(char) for char in target)


def _url_char(char: str) -> str:
    if char in _URL_KEEP:
        return char
    if char == "&":
        return "&amp;"
    return "".join(f"%{byte:02X}" for byte in char.encode())


def code_span(content: str, *, table: bool = False) -> str:
    """A code span fenced by a backtick run longer than any inside it. A parser's code span
    is one line already (CommonMark turns its line endings into spaces)."""
    if table:
        content = content.replace("|", "\\|")
    fence = "`" * (_longest_run(content, "`") + 1)
    return f"{fence} {content} {fence}"


def _longest_run(text: str, char: str) -> int:
    runs = re.findall(f"{re.escape(char)}+", text)
    return max((len(run) for run in runs), default=0)


def escape(text: str, *, line_start: bool = True) -> str:
    """Markdown that shows `text` as exactly that text, with no syntax and no math."""
    return _escape_chars(text, line_start)


def _run(run: list[tuple[str, str]], context: Context, *, line_start: bool) -> str:
    out: list[str] = []
    start = 0
    for begin, end, delimiter in _math_spans(run):
        out.append(_escape_chars("".join(c for c, _ in run[start:begin]), line_start and not out))
        body = "".join(tex for _, tex in run[begin + len(delimiter) : end - len(delimiter)])
        out.append(delimiter + _math(body, context) + delimiter)
        start = end
    out.append(_escape_chars("".join(char for char, _ in run[start:]), line_start and not out))
    return "".join(out)


def _math_spans(run: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    """Where `$…$` and `$$…$$` pair within a run: unescaped dollars, no backtick, dollar or
    entity inside, braces balanced (JupyterLab's math pass would otherwise read on past)."""
    # One character per item: an escaped character can be math but never a delimiter.
    text = "".join(char if char == tex else ("\1" if tex else "\0") for char, tex in run)
    spans, index = [], 0
    while (begin := text.find("$", index)) >= 0:
        delimiter = "$$" if text.startswith("$$", begin) else "$"
        end = text.find(delimiter, begin + len(delimiter))
        inner = run[begin + len(delimiter) : end]
        if end < 0 or "\0" in text[begin:end] or not _math_body("".join(t for _, t in inner)):
            index = begin + len(delimiter)
            continue
        spans.append((begin, end + len(delimiter), delimiter))
        index = end + len(delimiter)
    return spans


def _math_body(body: str) -> bool:
    if not body.strip() or "`" in body or re.search(r"(?<!\\)\$", body):
        return False
    depth = 0
    for brace in re.sub(r"\\[{}]", "", body):
        depth += {"{": 1, "}": -1}.get(brace, 0)
        if depth < 0:
            return False
    return depth == 0


def _math(body: str, context: Context) -> str:
    """TeX kept as TeX, minus what a Markdown parser without math would read as HTML or a
    link, and minus the commands that make links or styles."""
    body = body.replace("<", "\\lt ").replace(">", "\\gt ")
    body = re.sub(r"\](?=[(\[:])", "] ", body)
    body = _TEX_ACTIVE.sub("\\\\" + _WORD_JOINER, body)
    if context.table:
        body = body.replace("|", "\\vert ")
    if context.one_line:
        return body.replace("\n", " ")
    # A line of math could otherwise start a block (a list, a `~~~` fence) for a parser that
    # knows no math; no block starts with `{`, and `{}` is an empty group to TeX.
    return re.sub(r"\n[ \t]*(?=[^A-Za-z\\\n])", "\n{}", body)


def _escape_chars(text: str, line_start: bool) -> str:
    text = _TEX_ACTIVE.sub("\\\\" + _WORD_JOINER, text)
    out: list[str] = []
    index = 0
    while index < len(text):
        at_line_start = (index == 0 and line_start) or text[index - 1 : index] == "\n"
        plain = None if at_line_start or out[-1:] == ["&#32;"] else _PLAIN.match(text, index)
        if plain:  # most of a reply: a run at a time, not a character (5x faster on prose)
            out.append(plain.group())
            index = plain.end()
            continue
        out.append(_escape_char(text, index, at_line_start, line_start, out[-1:] == ["&#32;"]))
        index += 1
    return "".join(out)


def _escape_char(
    text: str, index: int, at_line_start: bool, line_start: bool, after_space: bool
) -> str:
    char = text[index]
    if char in _ENTITIES:
        return _ENTITIES[char]
    if _syntax(text, index, at_line_start, line_start):
        return "\\" + char
    if char in " \t" and (at_line_start or after_space):
        return "&#32;"  # leading spaces would indent: code, or a list's continuation
    return char


def _syntax(text: str, index: int, at_line_start: bool, line_start: bool) -> bool:
    """Whether `text[index]` could be Markdown syntax where it stands."""
    char = text[index]
    if char in _ESCAPED or (char in _LINE_START and at_line_start):
        return True
    # A bare URL is text to the parser; GFM front ends would make it a link, which runs on
    # through a backtick and so would swallow the opening of a code span after it.
    if (char == ":" and text.startswith("//", index + 1)) or (
        char == "." and text[index - 3 : index].lower() == "www"
    ):
        return True
    start = text.rfind("\n", 0, index) + 1  # `1.` or `1)` beginning a line: a list marker
    return char in ".)" and (start > 0 or line_start) and text[start:index].isdigit()
