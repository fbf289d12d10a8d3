"""The words around a reply: the status line while it streams, the footer and why it stopped,
the output's record, and the throttle's reset. Table tests of exact strings users read."""

from __future__ import annotations

from typing import Any

import pytest

from nbstream.engine.result import OFFLINE_BACKEND, ChatResult, Status, Timings, Usage
from nbstream.show.rendering import (
    Throttle,
    count,
    ending,
    footer,
    format_seconds,
    metadata,
    status_line,
)


def reply(**changes: Any) -> ChatResult:
    base: dict[str, Any] = dict(
        text="Hi",
        model="m",
        finish_reason="stop",
        usage=Usage(10, 21, 31),
        timings=Timings(started_at=1_764_547_200.0, first_token=0.5, last_token=2.5, total=2.6),
    )
    return ChatResult(**{**base, **changes})


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "n/a"),
        (0.0, "0.00 s"),
        (0.414, "0.41 s"),
        (9.5, "9.50 s"),
        (10.0, "10.0 s"),
        (119.94, "119.9 s"),
        (120.0, "2 min 00 s"),
        (185.7, "3 min 05 s"),
    ],
)
def test_seconds_are_shown_with_the_precision_that_matters(seconds, shown) -> None:
    assert format_seconds(seconds) == shown


def test_one_token_is_singular() -> None:
    assert [count(n) for n in (0, 1, 2)] == ["0 tokens", "1 token", "2 tokens"]


def test_while_waiting_the_status_counts_the_seconds_or_says_why() -> None:
    waiting = reply(text="", timings=Timings())
    assert status_line(waiting, 1.25) == "waiting for the first token · 1.25 s"
    assert status_line(waiting, 1.25, "rate limited, retrying in 2 s (attempt 1)") == (
        "rate limited, retrying in 2 s (attempt 1)"
    )


def test_while_streaming_the_status_counts_tokens_time_and_speed() -> None:
    assert status_line(reply(), 3.0) == "streaming · 21 tokens · 3.00 s · 10.0 tok/s"
    assert status_line(reply(), 3.0, "note") == "streaming · 21 tokens · 3.00 s · 10.0 tok/s · note"
    one = reply(usage=Usage(10, 1, 11), timings=Timings(first_token=0.5, last_token=0.5))
    assert status_line(one, 0.6) == "streaming · 1 token · 0.60 s"  # no speed from a single token


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"status": Status.INTERRUPTED}, "interrupted after 21 tokens"),
        (
            {"status": Status.INCOMPLETE, "error": "connection lost"},
            "connection lost after 21 tokens (no finish reason)",
        ),
        ({"status": Status.INCOMPLETE}, "stream ended early after 21 tokens (no finish reason)"),
        ({"status": Status.FAILED}, "failed after 21 tokens"),
        ({"finish_reason": "stop"}, "finished"),
        ({"finish_reason": "length"}, "stopped: max tokens reached"),
        ({"finish_reason": "content_filter"}, "stopped by the content filter"),
        ({"finish_reason": "tool_calls"}, "asked for tool calls"),
        ({"finish_reason": "eos_token"}, "eos_token"),
        ({"finish_reason": None}, "finished"),
    ],
)
def test_the_ending_says_why_the_reply_stopped(changes, said) -> None:
    assert ending(reply(**changes)) == said


def test_the_footer_names_the_thread_unless_it_is_the_default() -> None:
    assert " · thread notes" in footer(reply(), thread="notes")
    assert "thread" not in footer(reply(), thread="default")


def test_a_replayed_reply_says_when_it_was_recorded_and_costs_nothing_new() -> None:
    line = footer(reply(replayed=True), priced=False)
    assert line.endswith(" · finished · replayed from 2025-12-01")
    assert footer(reply(replayed=True, timings=Timings())).endswith(" · replayed")


def test_an_unknown_price_is_said_for_remote_servers_only() -> None:
    assert footer(reply(backend="api.example.com"), priced=False).endswith(" · price unknown")
    for local in ("127.0.0.1:8000", "localhost:11434", OFFLINE_BACKEND):
        assert "price unknown" not in footer(reply(backend=local), priced=False)
    assert footer(reply(backend=OFFLINE_BACKEND)).endswith(" · finished · offline demo")


def test_a_cost_the_server_reported_wins_over_the_price_table() -> None:
    reported = reply(usage=Usage(10, 21, 31, cost=0.25))
    assert footer(reported, cost=0.01).endswith(" · $0.2500")
    assert footer(reported).endswith(" · $0.2500")
    assert footer(reply(), cost=0.01).endswith(" · $0.0100")


def test_the_output_record_says_what_the_turn_was() -> None:
    record = metadata(reply(status=Status.INTERRUPTED), thread="t", turn_id="abc")["nbstream"]
    assert record == {
        "turn_id": "abc",
        "thread": "t",
        "model": "m",
        "status": "interrupted",
        "finish_reason": "stop",
        "replayed": False,
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 21,
            "total_tokens": 31,
            "estimated": False,
        },
        "timings": {"time_to_first_token": 0.5, "tokens_per_second": 10.0, "total": 2.6},
    }


def test_after_a_reset_the_next_update_goes_out_at_once() -> None:
    throttle = Throttle(max_rate=10)
    throttle.sent(5.0, 1_000)
    assert throttle.wait(5.01) == pytest.approx(0.09)
    throttle.reset()
    assert throttle.wait(5.01) == 0.0
