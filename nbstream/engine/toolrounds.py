"""The rounds of a tool loop as data: each call the model made and what came back.

Pure data beside `ChatResult`, which keeps them in `tool_rounds`, so that the store, the cache and
the display all see the whole exchange. `round_messages` writes them as Chat Completions messages
(an assistant message with its `tool_calls`, then one `tool` message per call, in call order);
`responses.input_items` turns those into the Responses API's function_call items.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    """What came of one tool call."""

    OK = "ok"  # the function returned; `output` is its result as text
    ERROR = "error"  # the function raised, or the arguments were not valid: `output` says how
    DENIED = "denied"  # the user (or a headless run, which cannot ask) said no
    UNKNOWN = "unknown"  # the model named a tool it was not offered
    INTERRUPTED = "interrupted"  # stopped before or while it ran
    WAITING = "waiting"  # live snapshots only: the kernel's main thread has not taken it yet
    ASKING = "asking"  # live snapshots only: the user has not approved or denied it yet


@dataclass(frozen=True)
class ToolRun:
    """One tool call and its answer."""

    id: str
    name: str
    arguments: str  # the JSON text the model sent, as sent
    output: str = ""  # the text sent back to the model
    outcome: Outcome = Outcome.OK
    seconds: float = 0.0


@dataclass(frozen=True)
class ToolRound:
    """One assistant message that asked for tools, and the answers it got."""

    runs: tuple[ToolRun, ...] = ()
    text: str = ""  # content the model sent beside its calls
    reasoning_items: tuple[dict[str, Any], ...] = ()
    reasoning: str = ""  # the reasoning the model showed before these calls (never sent back)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ToolRound:
        """Rebuild a round saved with `dataclasses.asdict`."""
        runs = tuple(
            ToolRun(**{**run, "outcome": Outcome(run.get("outcome", "ok"))})
            for run in record.get("runs") or ()
        )
        items = tuple(record.get("reasoning_items") or ())
        text, reasoning = record.get("text") or "", record.get("reasoning") or ""
        return cls(runs=runs, text=text, reasoning_items=items, reasoning=reasoning)


#: What a tool loop tells the display while it runs (a call started or ended): wake up.
@dataclass(frozen=True)
class ToolActivity:
    """A tool call started, finished or waits for approval."""

    note: str


def round_messages(rounds: tuple[ToolRound, ...] | list[ToolRound]) -> list[dict[str, Any]]:
    """The rounds as Chat Completions messages: tool messages follow their calls."""
    messages: list[dict[str, Any]] = []
    for one in rounds:
        calls = [
            {"id": run.id, "type": "function",
             "function": {"name": run.name, "arguments": run.arguments}}
            for run in one.runs
        ]  # fmt: skip
        assistant: dict[str, Any] = {"role": "assistant", "content": one.text or None}
        assistant["tool_calls"] = calls
        if one.reasoning_items:
            assistant["reasoning_items"] = list(one.reasoning_items)
        messages.append(assistant)
        messages += [
            {"role": "tool", "tool_call_id": run.id, "content": run.output} for run in one.runs
        ]
    return messages
