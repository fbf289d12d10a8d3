"""Inline Markdown pieces: escapes every front end reads as text, URLs, code spans."""

from __future__ import annotations

import pytest

from nbstream.show._inline import SAFE_SCHEMES, code_span, escape, url


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("&amp;", "&amp;amp;"),  # an entity typed by the model stays visible as typed
        ("jav&#x61;script:", "jav&amp;\\#x61;script:"),
        ("\\ ` $ < >", "&#92; &#96; &#36; &lt; &gt;"),
        ("# *a* _b_ [c] |d| ~e~ !f", "\\# \\*a\\* \\_b\\_ \\[c\\] \\|d\\| \\~e\\~ \\!f"),
    ],
)
def test_escape_leaves_nothing_a_parser_reads_as_syntax(text, escaped) -> None:
    assert escape(text) == escaped


def test_urls_keep_their_safe_characters_and_encode_the_rest() -> None:
    assert url('https://x.org/a b"<') == "https://x.org/a%20b%22%3C"
    assert url("https://x.org/p?q=1&r=2#f") == "https://x.org/p?q=1&amp;r=2#f"
    assert {"http", "https", "mailto"} == SAFE_SCHEMES


def test_a_code_span_is_fenced_longer_than_its_backticks() -> None:
    assert code_span("a `b` c") == "`` a `b` c ``"
    assert code_span("plain") == "` plain `"
