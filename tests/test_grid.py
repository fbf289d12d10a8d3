"""The grid of many replies: what it shows while streaming and at the end, that model text
cannot inject HTML, its totals line and the comparison table."""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser

import pytest

from nbstream.engine.result import ChatResult, Status, Timings, Usage
from nbstream.gather import Board
from nbstream.show.grid import TAIL, comparison_table, render, show_board, total_line

ATTACK = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> <iframe src=//evil></iframe> "
    "[click](javascript:alert(3)) <a href='javascript:alert(4)'>x</a> "
    "<svg onload=alert(5)></svg>"
)


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would build them."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def reply(text: str, tokens: int = 3, **changes) -> ChatResult:
    base = dict(
        text=text,
        model="m",
        finish_reason="stop",
        usage=Usage(5, tokens, 5 + tokens),
        timings=Timings(first_token=0.5, last_token=1.5, total=2.0),
    )
    return ChatResult(**{**base, **changes})


def board_of(*items: tuple[str, ChatResult, bool, str | None]) -> Board:
    board = Board([title for title, *_ in items])
    for index, (_, result, done, error) in enumerate(items):
        if done:
            board.end(index, result, error)
        else:
            board.update(index)(result)
    board.started, board.finished = 100.0, 104.0
    return board


def test_model_text_prompts_and_errors_cannot_add_script_or_handlers() -> None:
    board = board_of(
        ("<b>prompt</b>", reply(ATTACK), True, None),
        ("two", reply(ATTACK, status=Status.INCOMPLETE), False, None),
        ("three", reply(""), True, "<img src=x onerror=alert(6)>"),
    )
    for final in (False, True):
        markup = render(board, final=final)["text/html"]
        for tag, attributes in Tags(markup).tags:
            assert tag not in {"script", "iframe", "svg", "img", "object", "embed"}
            assert not any(name.startswith("on") for name in attributes)
            for name in ("href", "src"):
                assert not attributes.get(name, "").strip().lower().startswith("javascript")
        assert "1. &lt;b&gt;prompt&lt;/b&gt;" in markup
        assert "alert(1)" in markup  # the text is still there, as text


def test_plain_text_shows_the_model_text_as_it_is() -> None:
    board = board_of(("p", reply("a <b>bold</b> claim"), True, None))
    plain = render(board, final=True)["text/plain"]
    assert plain.startswith("[1] p\na <b>bold</b> claim\n[finished] 3 tokens · 2.0 tok/s")


def test_while_streaming_only_the_tail_of_each_reply_is_shown_and_all_of_it_at_the_end() -> None:
    text = "START " + "x" * TAIL + " END"
    board = board_of(("p", reply(text, status=Status.INCOMPLETE), False, None))
    live, final = render(board, final=False), render(board, final=True)
    assert "START" not in live["text/plain"] and "END" in live["text/plain"]
    assert "START" not in live["text/html"]
    assert f"[1] p\n{text}\n" in final["text/plain"] and "START" in final["text/html"]


def test_each_item_says_where_it_is() -> None:
    board = board_of(
        ("waiting", ChatResult(status=Status.INCOMPLETE), False, None),
        ("streaming", reply("abc", tokens=12, status=Status.INCOMPLETE), False, None),
        ("done", reply("abc"), True, None),
        ("failed", reply(""), True, "401 from host: bad key"),
    )
    plain = render(board, final=False)["text/plain"]
    assert plain.startswith(
        "[1] waiting\n\n[waiting]\n\n[2] streaming\nabc\n[streaming] 12 tokens\n\n"
    )
    done = plain.split("[3] done\nabc\n", 1)[1].split("\n", 1)[0]
    assert done == "[finished] 3 tokens · 2.0 tok/s · total 2.00 s"
    assert "[4] failed\n\n[failed] 401 from host: bad key\n\n" in plain


def test_the_total_line_counts_requests_tokens_failures_and_the_aggregate_rate() -> None:
    board = board_of(
        ("a", reply("x", tokens=10), True, None),
        ("b", reply("y", tokens=30), True, "boom"),
        ("c", reply("z", tokens=0, status=Status.INCOMPLETE), False, None),
    )
    assert total_line(board) == (
        "2/3 requests · 40 completion tokens · wall 4.00 s · 10.0 tok/s aggregate · 1 failed"
    )
    assert render(board, final=True)["text/plain"].endswith(total_line(board))


def test_no_tokens_means_no_rate_and_no_failures_means_no_failure_count() -> None:
    board = board_of(("a", reply("", tokens=0), True, None))
    assert total_line(board) == "1/1 requests · 0 completion tokens · wall 4.00 s"


def test_columns_fix_the_grid_width_or_let_it_fill() -> None:
    board = board_of(("a", reply("x"), True, None))
    assert (
        "grid-template-columns:repeat(3, minmax(0, 1fr))"
        in render(board, final=True, columns=3)["text/html"]
    )
    assert "repeat(auto-fill, minmax(260px, 1fr))" in render(board, final=True)["text/html"]


def test_the_comparison_table_has_one_row_per_model_in_order() -> None:
    fast = reply("a", tokens=21)
    guessed = reply("b", tokens=4, usage=Usage(9, 4, 13, estimated=True), timings=Timings())
    table = comparison_table(
        ["fast", "guessed"], [fast, guessed], lambda r: 0.5 if r is fast else None
    )
    assert table.splitlines() == [
        "| model | first token | tok/s | prompt → completion | total | cost |",
        "|---|---:|---:|---:|---:|---:|",
        "| fast | 0.50 s | 20.0 | 5 → 21 | 2.00 s | $0.5000 |",
        "| guessed | n/a | n/a | ≈9 → ≈4 | 0.00 s | n/a |",
    ]


def test_the_comparison_table_needs_a_result_per_model() -> None:
    with pytest.raises(ValueError):
        comparison_table(["a", "b"], [reply("x")], lambda r: None)


async def fill(board: Board, texts: list[str]) -> list[str]:
    for index, text in enumerate(texts):
        await asyncio.sleep(0)
        board.end(index, reply(text))
    return texts


def test_a_terminal_gets_the_final_grid_once(capsys) -> None:
    board = Board(["first", "second"])
    assert show_board(board, fill(board, ["one", "two"]), show=True) == ["one", "two"]
    out = capsys.readouterr().out
    assert out.count("[1] first\none\n") == 1 and out.count("[2] second\ntwo\n") == 1
    assert "2/2 requests · 6 completion tokens" in out


def test_nothing_is_shown_when_asked_not_to(capsys) -> None:
    board = Board(["first"])
    show_board(board, fill(board, ["one"]), show=False)
    assert capsys.readouterr().out == ""


def test_the_final_grid_is_shown_even_when_the_work_fails(capsys) -> None:
    board = Board(["first", "second"])

    async def half_then_fail() -> None:
        board.end(0, reply("one"))
        raise RuntimeError("lost")

    with pytest.raises(RuntimeError, match="lost"):
        show_board(board, half_then_fail(), show=True)
    out = capsys.readouterr().out
    assert "[1] first\none\n" in out and "1/2 requests" in out


def test_cards_grow_fold_a_long_reply_and_keep_their_look_when_sanitised() -> None:
    long = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(20))
    board = board_of(("long", reply(long), True, None), ("short", reply("**bold**"), True, None))
    markup = render(board, final=True)["text/html"]
    assert "max-height" not in markup and "overflow:auto" not in markup  # no nested scrollbars
    assert markup.count("<summary>show all</summary>") == 1
    shown, folded = markup.split("<summary>show all</summary>", 1)
    assert "Paragraph 0 " in shown and "Paragraph 19 " in folded and "Paragraph 19 " not in shown
    assert "<strong>bold</strong>" in markup and "**" not in markup  # Markdown rendered
    assert "var(" not in markup  # the untrusted-output sanitiser drops var(): no look lost
    assert "repeat(auto-fill, minmax(260px, 1fr))" in markup  # one column on a narrow screen


def test_each_card_ends_with_its_badge() -> None:
    board = board_of(
        ("a", reply("x", finish_reason="length"), True, None),
        ("b", reply("x", status=Status.INTERRUPTED), True, None),
        ("c", reply(""), True, "boom"),
        ("d", reply("x", status=Status.INCOMPLETE), False, None),
    )
    markup = render(board, final=False)["text/html"]
    words = [m.split(">")[-1] for m in markup.split("</span>") if 'class="nbstream-badge' in m]
    assert words == ["stopped: max tokens", "interrupted", "failed", "streaming"]
