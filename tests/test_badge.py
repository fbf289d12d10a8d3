"""The badges under a reply: the status word, its colour, and text that stays text."""

from __future__ import annotations

import pytest

from nbstream.engine.result import ChatResult, Status
from nbstream.show.badge import (
    COLOURS,
    ERROR_MARK,
    Badge,
    badge_html,
    final_badges,
    line_html,
    live_badge,
    split,
    status_word,
    text,
)


@pytest.mark.parametrize(
    ("status", "reason", "word"),
    [
        (Status.COMPLETE, "stop", "finished"),
        (Status.COMPLETE, "length", "stopped: max tokens"),
        (Status.COMPLETE, "content_filter", "filtered"),
        (Status.INCOMPLETE, None, "incomplete"),
        (Status.INTERRUPTED, None, "interrupted"),
        (Status.FAILED, None, "failed"),
    ],
)
def test_the_status_word_says_how_the_reply_ended(status, reason, word) -> None:
    assert status_word(ChatResult(status=status, finish_reason=reason)) == word
    assert final_badges(ChatResult(status=status, finish_reason=reason))[0].colour == COLOURS[word]


def test_a_replayed_reply_carries_a_second_badge() -> None:
    words = [b.word for b in final_badges(ChatResult(finish_reason="stop", replayed=True))]
    assert words == ["finished", "replayed"]


def test_a_live_line_is_badged_by_its_first_word_else_waiting() -> None:
    assert live_badge("streaming · 12 tokens") == Badge("streaming")
    assert live_badge("rate limited, retrying in 2 s") == Badge("waiting")


def test_text_escapes_html_markdown_and_math() -> None:
    assert text('<b>$x$ `c` \\ "q"\nnext') == (
        "&lt;b&gt;&#36;x&#36; &#96;c&#96; &#92; &quot;q&quot; next"
    )


def test_a_badge_and_its_line_are_html_with_the_words_as_text() -> None:
    html = badge_html(Badge("stopped: max tokens", "#b45309"))
    assert 'class="nbstream-badge nbstream-badge-stopped"' in html
    assert "background-color:#b45309" in html and html.endswith(">stopped: max tokens</span>")
    line = line_html((Badge("waiting"),), "<script>")
    assert line.startswith('<div class="nbstream-footer"') and "&lt;script&gt;</div>" in line


def test_split_separates_the_badges_from_what_the_line_says_besides_them() -> None:
    done = ChatResult(finish_reason="stop")
    assert split(done, "finished · 12 tokens", live=False) == (
        (Badge("finished", COLOURS["finished"]),),
        "12 tokens",
    )
    assert split(done, "thinking · 3 s", live=True) == ((Badge("thinking"),), "3 s")
    assert split(done, f"{ERROR_MARK}failed", live=False)[1] == ""
    assert split(done, f"{ERROR_MARK}401 from host", live=False)[1] == "401 from host"
