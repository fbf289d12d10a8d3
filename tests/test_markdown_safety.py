"""Model output through `nbstream.show.markdown`: an adversarial corpus and a property test.

Every payload is rendered, and what the renderer wrote is read again the way each front end
would read it: markdown-it-py with its own link validator off (JupyterLab trusts the
output, so nothing else drops a `javascript:` link), mistune (nbconvert), JupyterLab's math
pass followed by a CommonMark parser (JupyterLab 4, Notebook 7), and the HTML form through
html.parser. None of them may find raw HTML, an image, a link outside http(s)/mailto/
relative/#, an element or attribute outside an allow-list, or a TeX command that makes
links or styles. Payloads set `window.__nbstream_pwned` or fetch from evil.invalid if they ever run
or load: the browser tier (tests/e2e/test_safety.py) loads this same corpus.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from typing import Any

import mistune
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from nbstream.show.markdown import code_block, literal, safe_html, safe_markdown

from .jupyter_math import remove_math, replace_math
from .test_segments import segments

RUN = 'onerror="window.__nbstream_pwned=1"'
IMG = f"<img src=x {RUN}>"
JS = "javascript:window.__nbstream_pwned=1"
HOVER = 'onmouseover="window.__nbstream_pwned=1"'
EVIL = "http://evil.invalid"
B64 = "PHNjcmlwdD53aW5kb3cuX19wd25lZD0xPC9zY3JpcHQ+"  # <script>window.__nbstream_pwned=1</script>

CORPUS: dict[str, str] = {
    # The four kinds from issue 10.
    "escaped-backtick-span": f"\\`{IMG}\\`",
    "span-across-blank-line": f"`a``\n\n{IMG}\n\n``b`",
    "fence-closed-by-longer-run": f"```\nx\n````\n{IMG}",
    "backtick-in-info-string": f"``` a`b\n{IMG}\n```",
    # Backtick runs of every length, balanced and not.
    **{
        f"backtick-run-{n}": f"{'`' * n}a{'`' * (n + 1)}{IMG}{'`' * n} {IMG} {'`' * n}"
        for n in range(1, 8)
    },
    "tilde-fence": f"~~~\n{IMG}\n~~~\n{IMG}",
    "tilde-fence-closed-by-backticks": f"~~~\ncode\n```\n{IMG}",
    "fence-in-fence": f"````\n```\n{IMG}\n```\n````\n{IMG}",
    "unclosed-fence-while-streaming": f"Look:\n```html\n{IMG}",
    "indented-code": f"    {IMG}\n\ntext <b>x</b>",
    "indented-after-paragraph": f"para\n    {IMG}",
    "indented-fence": f"   ```\n   {IMG}\n   ```\n{IMG}",
    # The seven kinds of HTML block, and inline HTML.
    "html-block-1-script": "<script>window.__nbstream_pwned=1</script>",
    "html-block-1-pre": f"<pre>\n{IMG}\n</pre>",
    "html-block-1-style": f"<style>body{{background:url({EVIL}/css)}}</style>",
    "html-block-1-textarea": f"<textarea>\n</textarea>{IMG}",
    "html-block-2-comment": f"<!-- c -->{IMG}\n<!--\n\n{IMG}\n-->",
    "html-block-3-processing": f"<?php x ?>{IMG}",
    "html-block-4-declaration": f"<!DOCTYPE html>{IMG}",
    "html-block-5-cdata": f"<![CDATA[ x ]]>{IMG}",
    "html-block-6-div": f'<div onmouseover="window.__nbstream_pwned=1">\n{IMG}\n</div>',
    "html-block-7-custom": f'<x-tag onclick="window.__nbstream_pwned=1">\n{IMG}',
    "inline-html": f'text {IMG} and <a href="{JS}">x</a>',
    "iframe": f'<iframe src="{EVIL}/frame"></iframe>',
    "svg-onload": '<svg onload="window.__nbstream_pwned=1"><circle r="1"/></svg>',
    "svg-script": "<svg><script>window.__nbstream_pwned=1</script></svg>",
    "math-element": f"<math><mtext><table><mglyph><style><img src=x {RUN}>",
    "object-embed": f'<object data="{EVIL}/o"></object><embed src="{EVIL}/e">',
    "entities-as-tags": f"&lt;img src=x {RUN}&gt; &#60;img src=x {RUN}&#62;",
    "escaped-angle": f"\\{IMG}",
    "unterminated-tag": f"<img src=x {RUN}",
    # Links: schemes, obfuscations, titles, references, autolinks.
    "javascript-link": f"[x]({JS})",
    "entity-scheme-hex": "[x](jav&#x61;script:window.__nbstream_pwned=1)",
    "entity-scheme-decimal": "[x](&#106;avascript:window.__nbstream_pwned=1)",
    "entity-colon": "[x](javascript&colon;window.__nbstream_pwned=1)",
    "double-encoded-scheme": "[x](&amp;#x6a;avascript:window.__nbstream_pwned=1)",
    "mixed-case-scheme": "[x](JaVaScRiPt:window.__nbstream_pwned=1)",
    "angle-destination": f"[x](<{JS}>)",
    "vbscript-link": "[x](vbscript:msgbox(1))",
    "data-link": f"[x](data:text/html;base64,{B64})",
    "link-title-quotes": f'[x](https://ok.invalid "a\\" {RUN} x=\\"")',
    "link-text-html": f"[{IMG}](https://ok.invalid)",
    "reference-link": f"[x][r]\n\n[r]: {JS}",
    "reference-shortcut-title": f"[x]\n\n[x]: {JS} 'title'",
    "autolink-javascript": f"<{JS}>",
    "autolink-data": "<data:text/html,x>",
    "autolink-quote": f'<https://ok.invalid/"{RUN}>',
    "bare-url": "www.evil.invalid/x and http://evil.invalid/y",
    "bare-url-before-code-span": f"http://e.x`{IMG}` www.e.x`{IMG}`",
    # Images: none may load, remote or data.
    "image": f"![p]({EVIL}/p.png)",
    "image-title": f'![p]({EVIL}/t.png "t")',
    "image-data": f"![p](data:image/svg+xml;base64,{B64})",
    "image-reference": f"![i][r]\n\n[r]: {EVIL}/ref.png",
    "image-in-link": f"[![p]({EVIL}/in.png)](https://ok.invalid)",
    "image-javascript": f"![p]({JS})",
    # MathJax / KaTeX commands that make links, styles, classes or loads.
    "tex-href": f"$\\href{{{JS}}}{{x}}$",
    "tex-style": f"$$\\style{{background:url({EVIL}/m)}}{{x}}$$",
    "tex-class-id": "$\\class{jp-Dialog}{x} \\cssId{main}{y}$",
    "tex-html-katex": "$\\htmlStyle{color:red}{x} \\htmlClass{c}{y}$",
    "tex-url-bbox": f"$\\url{{{JS}}} \\bbox[background:url({EVIL}/b)]{{x}}$",
    "tex-paren-delimiters": f"\\\\(\\href{{{JS}}}{{x}}\\\\) \\(\\href{{{JS}}}{{y}}\\)",
    "tex-environment": f"\\begin{{align}}\\href{{{JS}}}{{x}}\\end{{align}}",
    "tex-outside-math": f"plain \\href{{{JS}}}{{x}} text",
    # HTML inside tables and lists.
    "table-html": f"| a | b |\n|---|---|\n| {IMG} | `x\\|{IMG}` |",
    "table-math-pipes": f"| a |\n|---|\n| $|x|$ {IMG} |",
    "list-html": f"- {IMG}\n- ```\n  {IMG}\n  ```\n1. [x]({JS})",
    "quote-list-code": f"> - a\n>   ```\n>   {IMG}\n>   ```",
    "heading-html": f"# {IMG}\n\nSetext {IMG}\n===",
    # Dollar signs that could pair across a code boundary or inside a URL.
    "dollar-quote-fence": f"> quote $a\n> ```\n> $ {IMG}\n> ```",
    "dollar-list-fence": f"- item $a\n  ```\n  $ {IMG}\n  ```",
    "dollar-indented-code": f"$a\n\n    $ {IMG}\n\nb $",
    "dollar-multiline-span": f"$a `b\nc $` {IMG} $",
    "dollar-top-fence": f"$a\n```\n$ {IMG}\n```\n$",
    "dollar-display-fence": f"$$\n```\n$$\n{IMG}\n```",
    "dollar-link-target": f'[x](https://ok.invalid/$"{HOVER}x="$)',
    "dollar-link-title": f"""[x](https://ok.invalid '$" {HOVER} x="$')""",
    "dollar-info-string": f'- ```py$"{HOVER}x="$\n  code\n  ```',
    "dollar-begin-end": f"\\begin{{x}} `\\end{{x}}` {IMG} \\end{{x}}",
    "dollar-math-tilde-fence": f"$$\n~~~\n$$\n\n```\n~~~\n{IMG}\n```",
    "dollar-braces": f"$a{{$ `$` {IMG} $}}$",
    "dollar-nested-code-blocks": f"> - ```\n>   $\n>   ```\n>\n> ```\n> $\n> {IMG}\n> ```",
    "dollar-math-backtick": f"$a`b$ ``{IMG}`` $c$",
    "math-markers": f'@@0@@ [x](https://ok.invalid/@@0@@) $" {RUN} $',
}

_TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("em", "strong", "s", "a", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td"),
}
_ATTRIBUTES = {
    ("a", "href"),
    ("a", "target"),
    ("a", "rel"),
    ("ol", "start"),
    ("code", "class"),
    ("th", "style"),
    ("td", "style"),
}
_ACTIVE_TEX = re.compile(
    r"\\(href|url|style|class|cssId|data|html[A-Za-z]*|bbox|mmlToken|require|includegraphics)"
    r"(?![A-Za-z])"
)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


_MD = _parser()
#: Fewer examples for each mutant of a mutation run (scripts/mutation.sh); the suite runs all.
EXAMPLES = int(os.environ.get("NBSTREAM_HYPOTHESIS_EXAMPLES", "300"))
_MISTUNE = mistune.create_markdown(renderer=None, plugins=["table", "strikethrough", "url"])


def scheme_allowed(url: str) -> bool:
    """What a browser makes of a URL: tabs and newlines dropped, then an optional scheme."""
    cleaned = re.sub(r"[\t\n\r]", "", url).strip(" \x00-\x1f").lower()
    scheme = re.match(r"([a-z][a-z0-9+.\-]*):", cleaned)
    return scheme is None or scheme.group(1) in ("http", "https", "mailto")


def markdown_it_findings(markdown: str) -> list[str]:
    """Raw HTML, images and disallowed links that markdown-it-py finds."""
    found, stack = [], list(_MD.parse(markdown))
    while stack:
        token = stack.pop()
        stack.extend(token.children or ())
        if token.type in ("html_block", "html_inline", "image"):
            found.append(f"markdown-it {token.type}: {token.content!r}")
        if token.type == "link_open" and not scheme_allowed(str(token.attrGet("href"))):
            found.append(f"markdown-it link: {token.attrGet('href')!r}")
    return found


def mistune_findings(markdown: str) -> list[str]:
    """The same, as mistune (nbconvert's parser) reads it."""
    found: list[str] = []
    stack: list[Any] = list(_MISTUNE(markdown))  # type: ignore[arg-type]
    while stack:
        node = stack.pop()
        stack.extend(node.get("children") or ())
        kind = node.get("type")
        if kind in ("block_html", "inline_html", "image"):
            found.append(f"mistune {kind}: {node!r}")
        url = (node.get("attrs") or {}).get("url", "")
        if kind == "link" and not scheme_allowed(url):
            found.append(f"mistune link: {url!r}")
    return found


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.text: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            self.found.append(f"element <{tag}>")
        for name, value in attrs:
            if (tag, name) not in _ATTRIBUTES:
                self.found.append(f"attribute {tag}[{name}={value!r}]")
            if name == "href" and not scheme_allowed(value or ""):
                self.found.append(f"href {value!r}")
            if name == "class" and not re.fullmatch(r"language-[\w+#.-]+", value or ""):
                self.found.append(f"class {value!r}")
            if name == "style" and not re.fullmatch(r"text-align:\s*\w+;?", value or ""):
                self.found.append(f"style {value!r}")
        self._code += tag in ("code", "pre")

    def handle_endtag(self, tag: str) -> None:
        self._code -= tag in ("code", "pre") and self._code > 0

    def handle_data(self, data: str) -> None:
        if not self._code:  # MathJax skips code; everything else it may typeset
            self.text.append(data)


def html_findings(rendered: str, where: str) -> list[str]:
    """Elements and attributes outside the allow-list, and TeX that would make links."""
    parser = _Elements()
    parser.feed(rendered)
    parser.close()
    tex = _ACTIVE_TEX.findall("".join(parser.text))
    return [f"{where} {finding}" for finding in parser.found + [f"TeX \\{t}" for t in tex]]


def jupyterlab_findings(markdown: str) -> list[str]:
    """JupyterLab's path: the math pass, a CommonMark parser, the math put back."""
    text, math = remove_math(markdown)
    found = [f.replace("markdown-it", "jupyterlab") for f in markdown_it_findings(text)]
    return found + html_findings(replace_math(_MD.render(text), math), "jupyterlab")


def findings(payload: str) -> list[str]:
    """Everything any front end would find active in what the renderer makes of `payload`."""
    markdown = safe_markdown(payload)
    return (
        markdown_it_findings(markdown)
        + mistune_findings(markdown)
        + jupyterlab_findings(markdown)
        + html_findings(safe_html(payload), "safe_html")
    )


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 60


@pytest.mark.parametrize("payload", CORPUS.values(), ids=CORPUS.keys())
def test_no_front_end_finds_html_images_bad_links_or_active_tex(payload: str) -> None:
    assert findings(payload) == [], safe_markdown(payload)


def test_the_checks_flag_most_of_the_corpus_when_nothing_renders_it() -> None:
    """Shown as it is, most payloads are caught by these checks (the rest differ only for
    `marked` or a regex, which the browser tier covers): the checks are not blind."""
    raw = [p for p in CORPUS.values() if markdown_it_findings(p) + jupyterlab_findings(p)]
    assert len(raw) >= 70


# ---- what must still render


def _tokens(markdown: str) -> list[tuple[str, str]]:
    flat, stack = [], list(reversed(_MD.parse(markdown)))
    while stack:
        token = stack.pop()
        flat.append((token.type, token.content))
        stack.extend(reversed(token.children or ()))
    return flat


def test_code_blocks_and_spans_keep_their_text_exactly() -> None:
    text = f"```python\nif a < b:\n    x = '{IMG}' + `y`\n```\n\nand `{IMG}` and ``a`b``"
    tokens = _tokens(safe_markdown(text))
    assert ("fence", f"if a < b:\n    x = '{IMG}' + `y`\n") in tokens
    assert ("code_inline", IMG) in tokens and ("code_inline", "a`b") in tokens
    assert "```python\n" in safe_markdown(text)


def test_tables_lists_quotes_headings_and_emphasis_keep_their_structure() -> None:
    text = (
        "# Title\n\n> quoted\n\n| a | b |\n|:--|--:|\n| 1 | **2** |\n\n"
        "3. three\n4. four\n   - nested\n\n*em* ~~gone~~ line\nnext"
    )
    kinds = [kind for kind, _ in _tokens(safe_markdown(text))]
    for kind in ("heading_open", "blockquote_open", "table_open", "th_open", "strong_open"):
        assert kind in kinds
    for kind in ("ordered_list_open", "bullet_list_open", "em_open", "s_open", "softbreak"):
        assert kind in kinds
    assert "3. three\n4. four\n   - nested" in safe_markdown(text)
    assert "| :-- | --: |" in safe_markdown(text)


def test_allowed_links_stay_links_and_images_become_links() -> None:
    text = "[a](https://ok.invalid/x?y=1&z=2#f) [b](mailto:me@ok.invalid) [c](/rel) ![d](x.png)"
    hrefs = [t.attrGet("href") for t in _MD.parseInline(safe_markdown(text))[0].children or []]
    assert [h for h in hrefs if h] == [
        "https://ok.invalid/x?y=1&z=2#f",
        "mailto:me@ok.invalid",
        "/rel",
        "x.png",
    ]
    assert "![" not in safe_markdown(text)


def test_math_stays_math_for_jupyterlab() -> None:
    text = (
        "Euler: $e^{i\\pi}+1=0$ and $a<b$, costs \\$5.\n\n"
        "$$\n\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}\n$$"
    )
    rendered, math = remove_math(safe_markdown(text))
    assert math == [
        "$e^{i\\pi}+1=0$",
        "$a\\lt b$",
        "$$\n\\begin{pmatrix} a &amp; b \\\\ c &amp; d \\end{pmatrix}\n$$",
    ]
    assert "costs &#36;5" in rendered  # an escaped dollar is no delimiter


def test_dollars_in_code_never_pair_with_dollars_outside() -> None:
    text = "Price $5 `a $ b` and\n\n- $x\n  ```\n  $ y\n  ```\n\n$z"
    _, math = remove_math(safe_markdown(text))
    assert all("`" not in m for m in math), math


def test_html_form_renders_markdown_with_links_in_a_new_tab() -> None:
    rendered = safe_html(
        "**b** [s](https://ok.invalid) `a<b`\n\n| a |\n|---|\n| 1 |\n\n```py\nx\n```"
    )
    assert "<strong>b</strong>" in rendered and "<table>" in rendered
    assert (
        '<a href="https://ok.invalid" target="_blank" rel="noopener noreferrer nofollow">s</a>'
        in rendered
    )
    assert "<code>a&lt;b</code>" in rendered and '<code class="language-py">x' in rendered


def test_literal_and_code_block_hold_any_text() -> None:
    hostile = f"```\n{IMG}\n$x$ [a]({JS}) ````"
    assert _tokens(code_block(hostile, "json"))[0] == ("fence", hostile + "\n")
    assert [kind for kind, _ in _tokens(literal(hostile))] == [
        "paragraph_open",
        "inline",
        "text",
        "paragraph_close",
    ]
    assert _MD.parseInline(literal(hostile))[0].children[0].content == hostile.replace("\n", " ")


def _visible(markdown: str) -> str:
    """The text a reader sees: the HTML rendering's text, whitespace collapsed."""
    parser = _Elements()
    parser.feed(_MD.render(markdown).replace("<code>", "<code>`").replace("</code>", "`</code>"))
    return " ".join("".join(parser.text).split())


@pytest.mark.parametrize(
    "text",
    [
        "&lt;b&gt; &amp;amp; &#36; &copy; \\* \\_x\\_ \\` \\\\ \\$ a\\\nb",
        "1\\. not a list\n\\# not a heading\n\\- not an item\n\\> not a quote",
        "&#32;&#32;&#32;&#32;not code\n\\~~~ not a fence \\| \\= \\+ \\( \\) \\{ \\} \\^",
        "a_b_c * x * 2 * 3 ~ y ~ #hash 3.14 1) [not a link] a](b) !bang",
    ],
)
def test_text_shows_exactly_as_the_parser_read_it(text: str) -> None:
    assert _visible(safe_markdown(text)) == _visible(text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(st.characters(codec="ascii", exclude_characters="<>$![]"), max_size=60))
def test_random_text_shows_as_the_parser_read_it(text: str) -> None:
    assert _visible(safe_markdown(text)) == _visible(text), safe_markdown(text)


# ---- random Markdown


_FRAGMENTS = st.sampled_from(
    [
        *("`", "``", "```", "~~~", "\\`", "$", "$$", "\\$", "\\\\(", "\\\\)", "\\[", "{", "}"),
        *("\n", "\n\n", "\n    ", "> ", "- ", "1. ", "   ", "| a |", "|---|", "\\", "&", "#"),
        *(IMG, "<b>", "</b>", "<!--", "-->", "<?", "?>", "<![CDATA[", "<div>", "<script>"),
        *("[", "]", "](", ")", "![", "<", ">", "javascript:", "&#x61;", "&colon;", "http://e.x"),
        *("\\href{", "\\begin{a}", "\\end{a}", "@@0@@", '"', "'", "*", "_", "~~", "x", "text "),
    ]
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, max_size=40).map("".join))
def test_random_markdown_never_yields_html_images_bad_links_or_active_tex(text: str) -> None:
    assert findings(text) == [], safe_markdown(text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40).map("".join), st.integers(min_value=0))
def test_any_segment_of_a_reply_renders_safely(text: str, cut: int) -> None:
    """A long reply is shown as several outputs cut at paragraph breaks; any piece is safe."""
    cut %= len(text) + 1
    assert findings(text[:cut]) == [] and findings(text[cut:]) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, max_size=40).map("".join), st.integers(min_value=8, max_value=120))
def test_every_output_of_a_long_reply_renders_safely(text: str, limit: int) -> None:
    """Each output of a long reply (its code fence or table header reopened) is parsed alone."""
    for reopen, body in segments(text, limit):
        assert findings(reopen + body) == [], safe_markdown(reopen + body)


@pytest.mark.parametrize("limit", [48, 300, 2000])
def test_every_output_of_the_corpus_as_one_reply_renders_safely(limit: int) -> None:
    text = "\n".join(CORPUS.values())
    parts = segments(text, limit)
    assert len(parts) >= 3
    for reopen, body in parts:
        assert findings(reopen + body) == [], safe_markdown(reopen + body)


# ---- exactly what is written: a table of inputs and outputs (reviewed by hand)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (
            "| a | b |\n|:-:|:--|\n| $\\|x\\|$ | `p\\|q` |",
            "| a | b |\n| :-: | :-- |\n| $\\vert x\\vert $ | ` p\\|q ` |",
        ),
        (
            "$a<b>c$ and $[x](y)$ and $\\href{u}{v}$ $x]: y$ $f[a][b]$",
            "&#36;a&lt;b&gt;c$ and $[x](y)$ and $&#92;\u2060href{u}{v}&#36; $x] : y$ $f[a] [b]$",
        ),
        ("# Heading $a$\nsecond\n===", "# Heading $a$\n\n# second"),
        (
            "line one\\\nline two  \nthree ~~del~~ *em* __strong__",
            "line one\\\nline two\\\nthree ~~del~~ *em* __strong__",
        ),
        (
            "![](https://ok.invalid/i.png) ![alt *em*](/rel.png) ![x](javascript:y) [![i](a.png)](https://ok.invalid)",
            "[image](https://ok.invalid/i.png) [alt *em*](/rel.png) x [[i](a.png)](https://ok.invalid)",
        ),
        (
            "<https://ok.invalid> <mailto:me@ok.invalid> <me@ok.invalid> <javascript:x>",
            "[https\\://ok.invalid](https://ok.invalid) "
            "[mailto:me@ok.invalid](mailto:me@ok.invalid) "
            "[me@ok.invalid](mailto:me@ok.invalid) javascript:x",
        ),
        (
            "```py title\ncode\n```\n\n```$x\ny\n```\n\n    indented\n\n~~~\ntilde\n~~~",
            "```py\ncode\n```\n\n```\ny\n```\n\n```\nindented\n```\n\n```\ntilde\n```",
        ),
        (
            "3. three\n4. four\n   - nested\n\n- loose\n\n- list",
            "3. three\n4. four\n   - nested\n\n- loose\n\n- list",
        ),
        ("> quote\n> ```\n> code\n> ```\n> after", "> quote\n\n> ```\n> code\n> ```\n\n> after"),
        ("<div>\n<b>x</b>\n\n</div>", "&lt;div&gt;\n&lt;b&gt;x&lt;/b&gt;\n\n&lt;/div&gt;"),
        ("&#32;&#32;lead\n1. x\n12) y\nC# x", "&#32;&#32;lead\n\n1. x\n\n12. y\n    C\\# x"),
        (
            "a $x$ b $$y$$ c $ d $$ e \\$f\\$ $\\{g\\}$ $h{$ $}$",
            "a $x$ b $$y$$ c $ d $$ e \\$f\\$ ${g}&#36; &#36;h{&#36; &#36;}&#36;",
        ),
        ("$a\nb$ and `c` $d`e$", "$a\nb$ and ` c ` &#36;d&#96;e&#36;"),
        (
            "[a](<b c> 'title') [d](e\\(f\\)) [g](h?i=1&j=$k \"t\")",
            "[a](b%20c) [d](e%28f%29) [g](h?i=1&amp;j=%24k)",
        ),
        ("$$\na<b\n- c\n$$", "&#36;&#36;\na&lt;b\n\n- c\n  &#36;&#36;"),
        ("- ```\n  x\n  ```\n- y", "- ```\n  x\n  ```\n\n- y"),
        ("> - a\n>   ```\n>   x\n>   ```", "> - a\n\n>   ```\n>   x\n>   ```"),
        (
            "x \\\\(a\\\\) \\href \\style{b} \\hrefx",
            "x &#92;(a&#92;) &#92;\u2060href &#92;\u2060style{b} &#92;hrefx",
        ),
        ("***\n\nlast", "___\n\nlast"),
        ("$a>b$ $\\href{u}{v}$", "$a\\gt b$ $\\\u2060href{u}{v}$"),  # no HTML, no link in math
        ("$$a\nB\nc\n2$$", "$$a\nB\nc\n{}2$$"),  # only a line that could start a block gets {}
        ("$$a$b$$", "&#36;&#36;a$b$&#36;"),  # a lone `$` inside `$$…$$`: only `$b$` is math
        ("[x](/é€) ![y](<a b.png>)", "[x](/%C3%A9%E2%82%AC) [y](a%20b.png)"),  # UTF-8 bytes
        (  # an image's description is written for where it stands: here, a table cell
            "| h |\n|---|\n| ![a `x\\|y` $p\\|q$](p.png) |",
            "| h |\n| --- |\n| [a ` x\\|y ` $p\\vert q$](p.png) |",
        ),
        ("$$a\n-b\n  ~c\n\\d$$ $$e\nf$$", "$$a\n{}-b\n{}~c\n\\d$$ $$e\nf$$"),
        (
            "| $a\\|b$ | ~~s~~ |\n|---|---|\n| x\\\ny |  |",
            "| $a\\vert b$ | ~~s~~ |\n| --- | --- |\n| x&#92; |   |\n| y |   |",
        ),
    ],
)
def test_what_the_renderer_writes_for_each_construct(text: str, written: str) -> None:
    assert safe_markdown(text) == written


def test_what_the_html_form_holds() -> None:
    text = "1. [a](https://ok.invalid)\n\n| a |\n|--:|\n| 1 |\n\n```py\nx\n```\n\n2. b"
    link = '<a href="https://ok.invalid" target="_blank" rel="noopener noreferrer nofollow">a</a>'
    assert safe_html(text) == (
        f"<ol>\n<li>{link}</li>\n</ol>\n<table>\n<thead>\n<tr>\n"
        '<th style="text-align:right">a</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n'
        '<td style="text-align:right">1</td>\n</tr>\n</tbody>\n</table>\n'
        '<pre><code class="language-py">x\n</code></pre>\n<ol start="2">\n<li>b</li>\n</ol>\n'
    )


def test_literal_and_code_block_write_exactly() -> None:
    assert literal("a\nb - *c* $d") == "a b - \\*c\\* &#36;d"
    assert code_block("x```y", "js") == "````js\nx```y\n````"
    assert code_block("x\n", "not a name") == "```not\nx\n```"
