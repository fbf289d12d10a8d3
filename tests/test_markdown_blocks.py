"""`nbstream.show.markdown` block by block: what is written for each structure a reply uses,
and the pieces beside it (`parse_blocks`, `literal`, fence names, the sanitiser, warming).

test_markdown_safety.py holds the adversarial corpus; here each case pins one rule exactly.
"""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from nbstream.show import markdown
from nbstream.show.markdown import literal, parse_blocks, safe_markdown

_MD = MarkdownIt("commonmark").enable("table")


def _blocks(text: str) -> list[str]:
    """The block structure a CommonMark reader sees: token types, inline content left out."""
    return [token.type for token in _MD.parse(text) if token.type != "inline"]


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("a\nb\n===", "# a b"),  # a setext heading's lines become one line
        ("a  \nb\n---", "## a b"),  # its hard break too
        ("$x\ny$\n===", "# $x y$"),  # and math across its lines
        ("#", "#"),  # an empty heading
        ("> a\n>\n> b", "> a\n>\n> b"),  # two paragraphs in one quote
        ("- a\n\n  b\n- c", "- a\n\n  b\n\n- c"),  # two paragraphs in one item of a loose list
        ("- a\n-\n- b", "- a\n-\n- b"),  # an empty item
        ("| a | b |\n|:--|---|", "| a | b |\n| :-- | --- |"),  # a table with no body
    ],
)
def test_each_structure_is_written_as_the_same_blocks(text: str, written: str) -> None:
    assert safe_markdown(text) == written
    assert _blocks(written) == _blocks(text)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("<div>a b</div>", "&lt;div&gt;a b&lt;/div&gt;"),
        ("<div>TeX", "&lt;div&gt;TeX"),
        ("<div>a  ", "&lt;div&gt;a  "),  # trailing spaces are source text too
        # A blank line inside: every line stays in the quote, each with its own marker.
        ("> <pre>\n> a\n>\n> b\n> </pre>", "> &lt;pre&gt;\n> a\n>\n> b\n> &lt;/pre&gt;"),
    ],
)
def test_raw_html_shows_as_its_source_line_for_line(text: str, written: str) -> None:
    assert safe_markdown(text) == written


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        *[(name, True) for name in ("python3", "objective-c", "c++", "c#")],
        # A name needs a letter or digit; other punctuation could reach a class attribute.
        *[(name, False) for name in ("-", "+", "#", "a.b", 'x"y')],
    ],
)
def test_a_fence_keeps_a_language_name_of_letters_digits_dashes_pluses_and_hashes(
    name: str, kept: bool
) -> None:
    assert safe_markdown(f"```{name}\nx\n```").split("\n")[0] == "```" + (name if kept else "")


def test_parse_blocks_gives_the_renderers_blocks_with_their_inline_text_unparsed() -> None:
    tokens = parse_blocks("*a* `b`\n\n- c")
    assert [t.type for t in tokens if t.type != "inline"] == _blocks("*a* `b`\n\n- c")
    assert [(t.content, t.children) for t in tokens if t.type == "inline"] == [
        ("*a* `b`", []),
        ("c", []),
    ]


def test_literal_keeps_every_space_and_tab_and_joins_lines_with_one() -> None:
    text = "  indented  twice\tand\nbroken"
    assert [(t.type, t.content) for t in _MD.parseInline(literal(text))[0].children or []] == [
        ("text", "  indented  twice\tand broken")
    ]


def test_the_sanitiser_alone_keeps_only_allowed_tags_link_schemes_and_styles() -> None:
    """The second wall holds without the first: HTML the Markdown never lets through."""
    html = (
        '<p><img src="p.png"><span>s</span> <a href="ftp://f.invalid/x">f</a></p>'
        '<table><tr><td style="color:red;text-align:left">c</td></tr></table>'
    )
    assert markdown._clean(html) == (
        '<p>s <a target="_blank" rel="noopener noreferrer nofollow">f</a></p>'
        '<table><tbody><tr><td style="text-align:left">c</td></tr></tbody></table>'
    )


def _built() -> tuple[int, int]:
    """How many parsers and HTML renderers have been built since their caches were cleared."""
    return markdown._parser.cache_info().misses, markdown._html_renderer.cache_info().misses


def test_after_warming_the_first_reply_builds_no_parser() -> None:
    markdown._parser.cache_clear()
    markdown._html_renderer.cache_clear()
    markdown.warm()
    warmed = _built()
    markdown.safe_html("*a reply*")
    parse_blocks("*a reply*")
    assert _built() == warmed
