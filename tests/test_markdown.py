"""Model text to Markdown: written back from the parse tree, links checked, text kept as text."""

from __future__ import annotations

import pytest

from nbstream.show.markdown import code_block, literal, safe_markdown


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("[a](javascript:alert(1))", "a"),
        ("[a](jav&#x61;script:alert(1))", "a"),  # a character reference spells the scheme
        ("[a](JAVASCRIPT:alert(1))", "a"),
        ("[a](https://example.org/x)", "[a](https://example.org/x)"),
    ],
)
def test_only_safe_links_survive_and_their_text_stays(text, written) -> None:
    assert safe_markdown(text) == written


def test_raw_html_and_math_delimiters_inside_text_are_character_references() -> None:
    assert safe_markdown("<script>x</script> & $") == "&lt;script&gt;x&lt;/script&gt; &amp; &#36;"


def test_literal_is_one_line_with_no_syntax_left() -> None:
    assert literal("a *b* <i>\n$x$ & [l](u)") == (
        "a \\*b\\* &lt;i&gt; &#36;x&#36; &amp; \\[l\\](u)"
    )


def test_a_code_block_fence_is_longer_than_any_backtick_run_inside() -> None:
    assert code_block("x ``` y", "py") == "````py\nx ``` y\n````"
    assert code_block("plain") == "```\nplain\n```"
