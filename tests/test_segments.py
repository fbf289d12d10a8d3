"""A long reply is shown as several outputs: where it is cut, and what each output holds."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbstream.engine.result import ChatResult, Status
from nbstream.show.rendering import bundle
from nbstream.show.segments import Cut, segment_cut
from nbstream.show.surfaces import SEGMENT


def segments(text: str, limit: int, steps: list[int] | None = None) -> list[tuple[str, str]]:
    """(reopen, body) of each output, as the surface cuts them while the text grows by
    `steps` (all at once by default)."""
    out, frozen, reopen = [], 0, ""
    for end in [*(steps or []), len(text)]:
        while (cut := segment_cut(text[:end], frozen, limit, reopen)) is not None:
            out.append((reopen, text[frozen : cut.end]))
            frozen, reopen = cut.end, cut.reopen
    return [*out, (reopen, text[frozen:])]


def message_bytes(reopen: str, body: str) -> int:
    """The bytes of the display message for one output, as the kernel sends it."""
    data = bundle(ChatResult(text=reopen + body, status=Status.COMPLETE), "footer · line")
    data["text/plain"] = bundle(ChatResult(text=body, status=Status.COMPLETE), "", plain_only=True)[
        "text/plain"
    ]
    return len(json.dumps({"data": data}, ensure_ascii=False).encode())


SHAPES = {
    "prose without blank lines": "Lorem ipsum dolor sit amet, *consectetur*. " * 1600,
    "short lines": "".join(f"line {i} of prose goes on\n" for i in range(2600)),
    "one code block": "```python\n" + "".join(f"x{i} = {i}  # *no* [a](b)\n" for i in range(2200)),
    "CJK text": "漢字の文章です、句読点もあります。" * 2400,
    "CJK without stops": "漢" * 60_000,
    "a long list": "".join(f"- item {i} with *text*\n" for i in range(2600)),
    "a long table": "| n | cell |\n|---|---|\n"
    + "".join(f"| {i} | <b>x</b> |\n" for i in range(3600)),
    "a long quote": "".join(f"> quoted line {i}\n" for i in range(3200)),
    "markup to escape": "*_[]`$<>\\" * 6400,
}


@pytest.mark.parametrize("text", SHAPES.values(), ids=SHAPES.keys())
def test_any_reply_shape_is_cut_into_outputs_under_100_kb_that_read_as_the_reply(text) -> None:
    parts = segments(text, SEGMENT)
    assert len(parts) >= 3
    assert "".join(body for _, body in parts) == text
    assert max(message_bytes(*part) for part in parts) <= 100_000


def test_a_code_block_goes_on_in_the_next_output_under_the_same_fence() -> None:
    text = "Intro.\n\n~~~ python\n" + "".join(f"print({i})\n" for i in range(400)) + "~~~\n\nEnd."
    parts = segments(text, 1000)
    assert parts[0] == ("", "Intro.\n\n")  # first at the block boundary before the code
    assert parts[1][1].startswith("~~~ python\nprint(0)\n")
    assert all(reopen == "~~~ python\n" for reopen, _ in parts[2:])
    assert all(body.startswith("print(") for _, body in parts[2:-1])
    assert parts[-1][1].endswith("~~~\n\nEnd.")


def test_a_table_goes_on_under_its_header_and_a_list_between_items() -> None:
    table = "| a | b |\n|:--|--:|\n" + "".join(f"| {i} | x |\n" for i in range(300))
    parts = segments(table, 1000)
    assert all(reopen == "| a | b |\n|:--|--:|\n" for reopen, _ in parts[1:])
    assert all(body.startswith("| ") and body.endswith("|\n") for _, body in parts[:-1])
    items = "".join(f"{i}. item\n   more of item {i}\n" for i in range(1, 300))
    assert all(body.split("\n")[0].split(".")[0].isdigit() for _, body in segments(items, 900))
    bullets = "".join(f"- item {i}\n  more of item {i}\n" for i in range(300))
    parts = segments(bullets, 900)
    assert all(reopen == "" and body.startswith("- item") for reopen, body in parts)


def test_a_table_is_cut_after_its_header_and_a_row_when_the_next_row_ends_past_the_limit() -> None:
    table = "| a |\n|---|\n" + "".join(f"| {i} |\n" for i in range(1, 9))
    header = "| a |\n|---|\n"
    # The second row's line end is the first character past the limit: the row is whole, but
    # the cut comes before it.
    assert segments(table, 23) == [
        ("", header + "| 1 |\n"),
        (header, "| 2 |\n| 3 |\n| 4 |\n"),
        (header, "| 5 |\n| 6 |\n| 7 |\n"),
        (header, "| 8 |\n"),
    ]


def test_a_table_header_with_mixed_line_ends_is_repeated_in_every_output() -> None:
    table = "| a |\n|---|\r| 1 |\n" + "".join(f"| {i} |\r" for i in range(2, 12))
    parts = segments(table, 20)
    assert len(parts) > 3
    assert all(reopen == "| a |\n|---|\r" for reopen, _ in parts[1:])


def test_a_list_of_one_long_item_is_cut_between_its_lines() -> None:
    item = "- first line\n" + "".join(f"  line {i} of the item\n" for i in range(1, 12))
    parts = segments(item, 60)
    assert len(parts) > 3
    assert all(reopen == "" and body.endswith("item\n") for reopen, body in parts)


def test_a_reply_that_opens_with_code_is_folded_inside_it_under_its_fence() -> None:
    """As a grid folds a long reply: a cut asked for without a reopen."""
    text = "```python\n" + "".join(f"x = {i}\n" for i in range(20))
    assert segment_cut(text, 0, 40) == Cut(40, "```python\n")


def test_paragraphs_are_cut_between_blocks_never_inside_one() -> None:
    text = "".join(f"Paragraph {i}: " + "word " * 30 + "\n\n" for i in range(60))
    parts = segments(text, 1200)
    assert all(body.startswith("Paragraph") and body.endswith("\n\n") for _, body in parts[:-1])


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab 漢。\n|-`>*#1.")), max_size=400),
    st.integers(12, 200),
    st.lists(st.integers(0, 400), max_size=8),
)
def test_cuts_made_while_the_reply_grows_are_the_cuts_made_on_the_whole(text, limit, steps):
    """Each tick sees a longer text; a cut, once made, is the one the whole text would get."""
    grown = segments(text, limit, sorted(s for s in steps if s <= len(text)))
    assert grown == segments(text, limit)
    assert "".join(body for _, body in grown) == text
    assert all(body for _, body in grown[:-1])


def test_a_fence_line_that_fills_a_segment_is_followed_by_a_character_then_the_code() -> None:
    """A cut always moves past what the next segment reopens with: here by one character."""
    parts = segments("```python\n" + "x" * 30, 10)
    assert parts == [
        ("", "```python\nx"),
        *[("```python\n", "x" * 10)] * 2,
        ("```python\n", "x" * 9),
    ]


FENCE = "```\n"


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        ("one two three four five six seven eight nine ten", 16,
         ["one two three ", "four five six ", "seven eight ", "nine ten"]),  # after the last space
        ("a bcdefghijklmnopqrstuvwxyz", 8, ["a ", "bcdefghi", "jklmnopq", "rstuvwxy", "z"]),
        ("abcdefghijklmnopqrstuvwxyz abc", 12, ["abcdefghijkl", "mnopqrstuvwx", "yz abc"]),
        ("漢字です、句読点。もあります漢字の文章です" * 2, 30,
         ["漢字です、句読点。", "もあります漢字の文章", "です漢字です、", "句読点。",
          "もあります漢字の文章", "です"]),  # after the last CJK stop, else at the limit
        ("漢、" + "漢" * 20, 30, ["漢、", "漢" * 10, "漢" * 10]),
        ("漢、漢、" + "漢" * 20, 30, ["漢、漢、", "漢" * 10, "漢" * 10]),  # the last stop
        ("漢" * 8 + "。" + "漢" * 12, 30, ["漢" * 8 + "。", "漢" * 10, "漢" * 2]),
        ("漢" * 10 + "。" + "漢" * 10, 30, ["漢" * 10, "。" + "漢" * 9, "漢"]),  # never past it
        ("漢" * 30, 24, ["漢" * 8, "漢" * 8, "漢" * 8, "漢" * 6]),
    ],
)  # fmt: skip
def test_a_line_longer_than_a_segment_is_cut_after_a_space_else_a_cjk_stop_else_at_the_limit(
    text: str, limit: int, parts: list[str]
) -> None:
    assert segments(text, limit) == [("", part) for part in parts]


def test_a_long_code_line_is_cut_after_a_space_and_goes_on_under_the_fence() -> None:
    parts = segments(FENCE + "a b " * 12 + "\n```", 16)
    assert parts == [("", FENCE + "a b " * 3), *[(FENCE, "a b " * 4)] * 2, (FENCE, "a b \n```")]
    still_open = segments("\n" + FENCE + "a b " * 12, 16)  # after a blank line, not closed yet
    assert len(still_open) == 4
    assert all(reopen == FENCE for reopen, _ in still_open[1:])


def test_a_paragraph_without_blank_lines_is_cut_after_its_last_line_that_fits() -> None:
    parts = segments("aaa\nbbb\nccc\nddd\neee\nfff", 10)
    assert parts == [("", "aaa\nbbb\n"), ("", "ccc\nddd\n"), ("", "eee\nfff")]
    assert segments("aaaa\nbbbb\ncccc", 10) == [("", "aaaa\nbbbb\n"), ("", "cccc")]  # at the limit


def test_a_cut_inside_a_block_stays_at_its_lines_and_leaves_the_blank_lines_after_it() -> None:
    parts = segments("aaa\n\n\n" + "b" * 20, 10)
    assert parts == [("", "aaa\n"), ("", "\n\nbbbbbbbb"), ("", "b" * 10), ("", "bb")]


def test_a_line_is_read_once_its_text_fits_even_if_its_line_end_does_not() -> None:
    """The line after "| a |" makes it a table's header. A cut never depends on a line that
    may still grow: the same text arriving in pieces is cut the same way."""
    text = "para\n| a |\n|-|\n| 1 |\n"
    assert segments(text, 14)[0] == ("", "para\n")  # "|-|" fits: the table starts an output
    assert segments(text, 13)[0] == ("", "para\n| a |\n")  # it does not: a paragraph line
    assert segments(text, 13, [14]) == segments(text, 13)


def test_what_follows_a_closed_code_block_or_table_is_not_reopened_inside_it() -> None:
    code = "```\n" + "".join(f"x = {i}\n" for i in range(12)) + "```\n"
    table = "| a |\n|---|\n" + "".join(f"| {i} |\n" for i in range(1, 9)) + "\n"
    prose = "Prose after it. " * 8 + "\n\nThe end.\n"
    for text, limit in [(code + prose, 100), (code + "\n" + prose, 100), (table + prose, 60)]:
        parts = segments(text, limit)
        assert len(parts) >= 3
        assert all(reopen == "" for reopen, _ in parts), parts


def test_a_heading_right_after_a_table_row_always_has_text_in_its_output() -> None:
    """While a table's last row is the last whole line, the next line may be a row too, so
    the header is reopened; a heading there still shows in the output it opens."""
    text = "| a |\n|---|\n| 1 |\n# heading words here\nmore\n"
    for limit in range(20, 26):
        assert all(body for _, body in segments(text, limit))
