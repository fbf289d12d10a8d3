"""How a reply's tool rounds are shown: one folded section per call, untrusted text kept as text,
a call still running reads as running, and the footer's count."""

from __future__ import annotations

from nbstream.engine.result import ChatResult, Status
from nbstream.engine.toolrounds import Outcome, ToolRound, ToolRun
from nbstream.show.tooluse import REPLAYED, calls_fact, rounds_markdown, rounds_text

CALL = ToolRun(id="c1", name="stats", arguments='{"column":"a"}', outcome=Outcome.INTERRUPTED)


def test_a_call_running_in_a_live_snapshot_says_running() -> None:
    live = ChatResult(status=Status.INCOMPLETE, tool_rounds=(ToolRound(runs=(CALL,)),))
    assert rounds_text(live) == '[tool stats({"column":"a"}) running]'
    assert "running" in rounds_markdown(live) and "interrupted" not in rounds_markdown(live)


def test_a_call_the_kernel_has_not_taken_yet_says_it_waits_for_the_kernel() -> None:
    waiting = ToolRun(id="c1", name="stats", arguments="{}", outcome=Outcome.WAITING)
    live = ChatResult(status=Status.INCOMPLETE, tool_rounds=(ToolRound(runs=(waiting,)),))
    assert rounds_text(live) == "[tool stats({}) waiting for the kernel]"
    assert "🔧 stats  ⏳ waiting for the kernel</summary>" in rounds_markdown(live)


def test_a_call_waiting_for_the_users_answer_says_so() -> None:
    asking = ToolRun(id="c1", name="stats", arguments="{}", outcome=Outcome.ASKING)
    live = ChatResult(status=Status.INCOMPLETE, tool_rounds=(ToolRound(runs=(asking,)),))
    assert rounds_text(live) == "[tool stats({}) waiting for approval]"
    assert "🔧 stats  ⏳ waiting for approval</summary>" in rounds_markdown(live)


def test_a_call_stopped_by_an_interrupt_says_interrupted() -> None:
    ended = ChatResult(status=Status.INTERRUPTED, tool_rounds=(ToolRound(runs=(CALL,)),))
    assert rounds_text(ended) == '[tool stats({"column":"a"}) interrupted]'
    assert "interrupted" in rounds_markdown(ended)


def rounds(*sizes: int) -> tuple[ToolRound, ...]:
    return tuple(
        ToolRound(runs=tuple(ToolRun(id=f"c{i}", name="f", arguments="{}") for i in range(n)))
        for n in sizes
    )


def test_the_footer_counts_calls_and_rounds() -> None:
    assert calls_fact(ChatResult()) is None
    assert calls_fact(ChatResult(tool_rounds=rounds(1))) == "1 tool call in 1 round"
    assert calls_fact(ChatResult(tool_rounds=rounds(2, 1))) == "3 tool calls in 2 rounds"


def test_each_call_is_a_folded_section_with_its_arguments_result_and_time() -> None:
    run = ToolRun(id="c1", name="weather", arguments="", output="sunny", seconds=0.25)
    shown = rounds_markdown(ChatResult(tool_rounds=(ToolRound(runs=(run,)),)))
    assert shown == (
        "<details><summary>🔧 weather  ✓ · 0.25 s</summary>\n\n"
        "```json\n{}\n```\n\n```\nsunny\n```\n\n</details>"
    )


def test_names_and_results_the_model_or_a_tool_wrote_stay_text() -> None:
    run = ToolRun(id="c1", name="<img src=x>", arguments="{}", output="```\n<script>x</script>",
                  outcome=Outcome.ERROR)  # fmt: skip
    shown = rounds_markdown(ChatResult(tool_rounds=(ToolRound(runs=(run,)),)))
    assert "<img" not in shown and "✖ error" in shown
    assert "````\n```\n<script>x</script>\n````" in shown  # a longer fence holds the backticks


def test_a_replay_says_no_function_ran_and_long_outputs_are_cut_in_plain_text() -> None:
    run = ToolRun(id="c1", name="f", arguments="{}", output="y" * 300)
    replayed = ChatResult(tool_rounds=(ToolRound(runs=(run,)),), replayed=True)
    assert rounds_markdown(replayed).endswith(f"*{REPLAYED}*")
    assert rounds_text(replayed).splitlines() == [
        f"[tool f({{}}) ok] {'y' * 199}…",
        f"[{REPLAYED}]",
    ]
