"""The session's usage table (`%chat usage`): one row per model, replays apart, honest
means and costs."""

from __future__ import annotations

from typing import Any

from nbstream.engine.result import ChatResult, Timings, Usage
from nbstream.pricing import UsageTotals

HEADER = [
    "| model | requests | prompt | completion | time | mean first token | tok/s | cost |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]


def reply(model: str = "m", prompt: int = 10, completion: int = 11, **changes: Any) -> ChatResult:
    timings = Timings(first_token=0.5, last_token=1.5, total=2.0)
    base: dict[str, Any] = dict(
        model=model, usage=Usage(prompt, completion, prompt + completion), timings=timings
    )
    return ChatResult(**{**base, **changes})


def rows(totals: UsageTotals) -> list[str]:
    lines = totals.table().splitlines()
    assert lines[:2] == HEADER
    return lines[2:]


def test_before_any_reply_the_table_says_so() -> None:
    assert UsageTotals().table() == "No requests yet in this session."


def test_replies_add_up_per_model_in_the_order_models_were_first_used() -> None:
    totals = UsageTotals()
    totals.add(reply("b", 10, 11), None)
    totals.add(reply("a", 5, 6), None)
    totals.add(
        reply("b", 20, 21, timings=Timings(first_token=1.5, last_token=3.5, total=4.0)), None
    )
    assert rows(totals) == [
        # (10 + 20 decode tokens) over (1 + 2) decode seconds; first tokens 0.5 and 1.5
        "| b | 2 | 30 | 32 | 6.0 s | 1.00 s | 10.0 | n/a |",
        "| a | 1 | 5 | 6 | 2.0 s | 0.50 s | 5.0 | n/a |",
    ]


def test_replays_are_counted_apart_from_live_replies() -> None:
    totals = UsageTotals()
    totals.add(reply(), 0.01)
    totals.add(reply(replayed=True), None)
    assert [row.split(" | ")[:2] for row in rows(totals)] == [["| m", "1"], ["| m (replayed)", "1"]]


def test_one_estimated_reply_marks_the_models_token_counts() -> None:
    totals = UsageTotals()
    totals.add(reply(usage=Usage(1, 2, 3, estimated=True)), None)
    totals.add(reply(), None)
    assert rows(totals)[0].startswith("| m | 2 | ≈11 | ≈13 | ")


def test_cost_is_unknown_until_a_priced_reply_then_summed() -> None:
    totals = UsageTotals()
    totals.add(reply(), None)
    assert rows(totals)[0].endswith(" | n/a |")
    totals.add(reply(), 0.25)
    totals.add(reply(), 0.5)
    assert rows(totals)[0].endswith(" | &#36;0.7500 |")


def test_replies_without_tokens_do_not_skew_the_means() -> None:
    totals = UsageTotals()
    totals.add(reply(completion=0, timings=Timings(total=1.0)), None)
    assert rows(totals) == ["| m | 1 | 10 | 0 | 1.0 s | n/a | n/a | n/a |"]
    totals.add(reply(), None)
    assert rows(totals) == ["| m | 2 | 20 | 11 | 3.0 s | 0.50 s | 10.0 | n/a |"]
