"""How a reply's tool rounds are shown: each call folded, with its arguments, result and time,
after the round's reasoning, folded too.

Above the answer, one `<details>` per call (GitHub and nbconvert show them folded too), whose
summary line names the tool, says how it ended and how long it took; inside, the arguments as
the model sent them and the text that went back. Names, arguments and results are untrusted
(the model wrote them, or a tool returned them): they go through `literal` and `code_block`.
"""

from __future__ import annotations

from ..engine.result import ChatResult, Status, estimate_tokens
from ..engine.toolrounds import Outcome, ToolRun
from .markdown import code_block, literal
from .reasoning import round_reasoning_markdown

_MARK = {
    Outcome.OK: "✓",
    Outcome.ERROR: "✖ error",
    Outcome.DENIED: "⊘ denied",
    Outcome.UNKNOWN: "✖ unknown tool",
    Outcome.INTERRUPTED: "■ interrupted",
    Outcome.WAITING: "⏳ waiting for the kernel",
    Outcome.ASKING: "⏳ waiting for approval",
}
#: How plain text says the live-only outcomes.
_SAID = {Outcome.WAITING: "waiting for the kernel", Outcome.ASKING: "waiting for approval"}
#: Said under the rounds of a reply replayed from the cache.
REPLAYED = "tool calls replayed from the cache: no function ran"
#: A live snapshot (status incomplete) holds the call that runs now as INTERRUPTED, no output.
RUNNING = "⋯ running"


def tool_count(result: ChatResult) -> int:
    """How many tool calls the turn ran (or tried to: errors and denials count)."""
    return sum(len(one.runs) for one in result.tool_rounds)


def calls_fact(result: ChatResult) -> str | None:
    """'3 tool calls in 2 rounds' for the footer, None without tools."""
    calls = tool_count(result)
    if not calls:
        return None
    rounds = len(result.tool_rounds)
    noun = "tool call" if calls == 1 else "tool calls"
    return f"{calls} {noun} in {rounds} round{'s' if rounds != 1 else ''}"


def _running(run: ToolRun, live: bool) -> bool:
    return live and run.outcome is Outcome.INTERRUPTED


def run_summary(run: ToolRun, live: bool) -> str:
    """A call's summary line as plain text: its name, how it ended (or that it runs, or waits
    for the kernel, in a `live` snapshot), its time."""
    mark = RUNNING if _running(run, live) else _MARK[run.outcome]
    time = f" · {run.seconds:.2f} s" if run.seconds else ""
    return f"🔧 {run.name}  {mark}{time}"


def rounds_markdown(result: ChatResult) -> str:
    """The tool rounds as folded sections ('' when there were none)."""
    live = result.status is Status.INCOMPLETE
    sections: list[str] = []
    for one in result.tool_rounds:
        if one.reasoning:
            sections.append(round_reasoning_markdown(one.reasoning))
        for run in one.runs:
            body = [code_block(run.arguments or "{}", "json")]
            if run.output:
                body.append(code_block(run.output))
            inner, summary = "\n\n".join(body), literal(run_summary(run, live))
            sections.append(f"<details><summary>{summary}</summary>\n\n{inner}\n\n</details>")
    if result.replayed and sections:
        sections.append(f"*{literal(REPLAYED)}*")
    return "\n\n".join(sections)


def rounds_text(result: ChatResult) -> str:
    """The tool rounds as plain text lines."""
    live = result.status is Status.INCOMPLETE
    lines = []
    for one in result.tool_rounds:
        if one.reasoning:
            lines.append(f"[reasoned: {estimate_tokens(one.reasoning):,} tokens]")
        for run in one.runs:
            output = run.output if len(run.output) <= 200 else run.output[:199] + "…"
            said = "running" if _running(run, live) else _SAID.get(run.outcome, run.outcome.value)
            lines.append(f"[tool {run.name}({run.arguments}) {said}] {output}".rstrip())
    if result.replayed and lines:
        lines.append(f"[{REPLAYED}]")
    return "\n".join(lines)
