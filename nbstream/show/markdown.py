"""Model output, which is untrusted, as Markdown and HTML that can neither run script nor load.

One parser reads the text (markdown-it-py: CommonMark with GFM tables and strikethrough, raw
HTML recognised so that it can be shown as text), and everything shown is written from its
parse tree: what is code to the parser is exactly what stays code, in every front end.

- Raw HTML of every kind shows as text; an image becomes a link to its source (so nothing
  loads); links keep only http, https, mailto, relative and `#` targets (the rest are text).
- Code blocks become backtick fences, longer than any backtick run inside, with a plain
  language name or none. Inside a list or a quote, JupyterLab's math pass does not see them as
  code, so a whitespace-only line goes before and after each one: that pass never pairs a
  math delimiter across such a line (a quote is split there; it shows as two quotes).
- Text, math and links: see `_inline`.

`safe_markdown` gives the Markdown (text/markdown outputs); `safe_html` the same as HTML
(widgets, text/html), rendered from that Markdown and cleaned by an allow-list sanitiser.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import _inline
from ._inline import Context

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from markdown_it.tree import SyntaxTreeNode

_BARRIER = "\0"  # a line that must end up empty, even inside a quote (see the docstring)


# The parsers are built on first use, not at import: markdown-it's import is a third of
# `%load_ext nbstream`, and `warm` builds them in the background after it. mutmut leaves
# decorated functions alone, so these are not mutated; the table tests pin what they parse
# and render.
@functools.cache
def _parser(blocks_only: bool = False) -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True})
    md.enable(["table", "strikethrough"])
    md.disable("text_join")  # escapes stay apart: `\$` is no delimiter
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    if blocks_only:  # the same blocks, their text left unparsed
        md.disable("inline")
    return md


def warm() -> None:
    """Import the parser and the sanitiser and build what they need, so that the first reply
    does not wait for them; safe on any thread."""
    # Which text is parsed changes nothing: each call builds what its first call would.
    safe_html("*warm*")  # pragma: no mutate
    parse_blocks("warm")  # pragma: no mutate


def safe_markdown(text: str) -> str:
    """Markdown that renders like `text` but cannot run script or load remote content."""
    from markdown_it.tree import SyntaxTreeNode

    root = SyntaxTreeNode(_parser().parse(text))
    lines = _blocks(root.children, loose=True)
    return "\n".join("" if line == _BARRIER else line for line in _trim(lines))


def parse_blocks(text: str) -> list[Token]:
    """The block tokens the renderer's parser makes of `text` (their inline text unparsed)."""
    return _parser(blocks_only=True).parse(text)


def literal(text: str) -> str:
    """Markdown that shows `text` as that text on one line: no syntax, no math."""
    return _inline.escape(" ".join(text.split("\n")))


def code_block(code: str, language: str = "") -> str:
    """A fenced code block holding `code` exactly, whatever backticks it contains."""
    return "\n".join(_trim(_fence(code, language)))


def _blocks(nodes: Sequence[SyntaxTreeNode], *, loose: bool) -> list[str]:
    """Blocks one after another: a blank line between them (none in a tight list)."""
    return _join([_block(node) for node in nodes], [""] if loose else [])


def _join(blocks: list[list[str]], separator: list[str]) -> list[str]:
    """Blocks joined by `separator`, or by one barrier where either side asks for one."""
    lines: list[str] = []
    for block in blocks:
        if lines and block and _BARRIER in (lines[-1], block[0]):
            block = block[1:] if lines[-1] == block[0] else block
        elif lines and block:
            lines.extend(separator)
        lines.extend(block)
    return lines


def _block(node: SyntaxTreeNode) -> list[str]:
    render = _RENDERERS.get(node.type, _as_text)
    return render(node)


def _paragraph(node: SyntaxTreeNode) -> list[str]:
    return _inline_lines(node, Context())


def _inline_lines(node: SyntaxTreeNode, context: Context) -> list[str]:
    # A paragraph, heading or table cell holds one inline token (empty ones too).
    inline = node.children[0].to_tokens()[0]
    return _inline.render(inline.children or [], context).split("\n")


def _heading(node: SyntaxTreeNode) -> list[str]:
    level = int(node.tag[1])
    text = _inline_lines(node, Context(one_line=True))[0]
    return [f"{'#' * level} {text}".rstrip()]


def _fence(code: str, language: str) -> list[str]:
    lines = code.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    fence = "`" * max(3, _inline._longest_run(code, "`") + 1)
    name = language.split()[0] if language.split() else ""
    # Only a plain language name: an info string is copied into a class attribute.
    info = name if name.replace("-", "").replace("+", "").replace("#", "").isalnum() else ""
    return [_BARRIER, fence + info, *lines, fence, _BARRIER]


def _code(node: SyntaxTreeNode) -> list[str]:
    return _fence(node.content, node.info)  # an indented block's info is ""


def _as_text(node: SyntaxTreeNode) -> list[str]:
    """Raw HTML blocks (and anything unknown) show as their source text."""
    return [_inline.escape(line) for line in node.content.rstrip("\n").split("\n")]


def _rule(node: SyntaxTreeNode) -> list[str]:
    return ["___"]


def _quote(node: SyntaxTreeNode) -> list[str]:
    inner = _blocks(node.children, loose=True)
    return [line if line == _BARRIER else f"> {line}".rstrip() for line in inner]


def _list(node: SyntaxTreeNode) -> list[str]:
    items = node.children
    loose = not any(b.type == "paragraph" and b.hidden for item in items for b in item.children)
    start = int(str(node.attrs.get("start", 1)))
    marker = "{}." if node.type == "ordered_list" else "-"
    blocks = [_item(item, marker.format(start + n), loose) for n, item in enumerate(items)]
    return _join(blocks, [""] if loose else [])


def _item(node: SyntaxTreeNode, marker: str, loose: bool) -> list[str]:
    inner = _blocks(node.children, loose=loose) or [""]
    lead = [_BARRIER] if inner[0] == _BARRIER else []
    inner = inner[1:] if lead else inner
    pad = " " * (len(marker) + 1)
    out = [f"{marker} {inner[0]}".rstrip()]
    out.extend(line if line == _BARRIER else f"{pad}{line}".rstrip() for line in inner[1:])
    return lead + out


def _table(node: SyntaxTreeNode) -> list[str]:
    # A table has a header row at least: without one, markdown-it reads no table.
    head, *body = [row for section in node.children for row in section.children]
    aligns = [_align(cell) for cell in head.children]
    return [_row(head), "| " + " | ".join(aligns) + " |", *map(_row, body)]


def _row(row: SyntaxTreeNode) -> str:
    # A row is one source line, so a cell holds no line break to join.
    cells = [_inline_lines(cell, Context(table=True))[0] for cell in row.children]
    return "| " + " | ".join(cell or " " for cell in cells) + " |"


def _align(cell: SyntaxTreeNode) -> str:
    style = str(cell.attrs.get("style"))  # "None" in a column without alignment
    return {"text-align:left": ":--", "text-align:right": "--:", "text-align:center": ":-:"}.get(
        style, "---"
    )


def _trim(lines: list[str]) -> list[str]:
    while lines and lines[0] == _BARRIER:
        lines = lines[1:]
    while lines and lines[-1] == _BARRIER:
        lines = lines[:-1]
    return lines


_RENDERERS: dict[str, Callable[[SyntaxTreeNode], list[str]]] = {
    "paragraph": _paragraph,
    "heading": _heading,
    "fence": _code,
    "code_block": _code,
    "hr": _rule,
    "blockquote": _quote,
    "bullet_list": _list,
    "ordered_list": _list,
    "table": _table,
}


@functools.cache
def _html_renderer() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")
    return md


_TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("em", "strong", "s", "a", "ul", "ol", "li"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
#: `code` carries `language-NAME` from a fence, whose name `_fence` keeps to plain characters.
_ATTRIBUTES = {
    "a": {"href", "target"},
    "ol": {"start"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
}


def safe_html(text: str) -> str:
    """HTML for untrusted Markdown: the safe Markdown rendered, then allow-list sanitised.
    Links open in a new tab (inside JupyterLab a plain link would navigate the app away)."""
    return _clean(_html_renderer().render(safe_markdown(text)))


def _clean(html: str) -> str:
    """`html` with only the allow-listed tags, attributes, link schemes and styles left: a
    second wall, holding even if the Markdown let something through."""
    import nh3

    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=set(_inline.SAFE_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties={"text-align"},
    )
