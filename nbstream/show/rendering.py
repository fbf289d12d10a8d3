"""From a reply to what the notebook shows: safe Markdown, a status line, a footer, a bundle.

Pure functions and a throttle; nothing here knows of HTTP or IPython.
Model output is untrusted: JupyterLab renders live Markdown outputs without sanitizing, so
every piece of it (and every string from the server, such as the model's name) goes through
`markdown`, which writes it back from a parse tree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine.result import OFFLINE_BACKEND, ChatResult, Status, local_backend
from ..store.threads import Thread
from .badge import line_html, split
from .markdown import code_block, literal, safe_markdown
from .reasoning import (
    answer_after,
    reasoning_markdown,
    reasoning_plain,
    reasoning_seconds,
    stopped_reasoning,
    thinking_line,
    usage_facts,
)
from .tooluse import calls_fact, rounds_markdown, rounds_text


def format_seconds(seconds: float | None) -> str:
    """'0.41 s', '12.3 s', '2 min 05 s'; 'n/a' when unknown."""
    if seconds is None:
        return "n/a"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def count(tokens: int) -> str:
    """'1 token', '12 tokens'."""
    return f"{tokens} token" if tokens == 1 else f"{tokens} tokens"


def status_line(result: ChatResult, elapsed: float, note: str = "") -> str:
    """The line under a reply while it streams, led by what it is doing (`badge.LIVE`):
    tokens so far, elapsed time, rate; a retry's note while it waits."""
    tokens = result.usage.completion_tokens
    if result.timings.first_token is None:
        waiting = f"waiting for the first token · {format_seconds(elapsed)}"
        return note or waiting
    thinking = thinking_line(result, format_seconds(elapsed))
    if thinking is not None:
        return thinking + (f" · {note}" if note else "")
    rate = result.tokens_per_second
    speed = f" · {rate:.1f} tok/s" if rate else ""
    line = f"streaming · {count(tokens)} · {format_seconds(elapsed)}{speed}"
    return line + (f" · {note}" if note else "")


def footer(
    result: ChatResult, *, thread: str = "", cost: float | None = None, priced: bool = True
) -> str:
    """The line under a finished reply: model, usage, speed, time, why it stopped, cost
    (`priced=False`: the model's price is unknown, and the footer says so)."""
    usage = result.usage
    approx = "≈" if usage.estimated else ""
    parts = [
        result.model or "?",
        f"{approx}{usage.prompt_tokens} → {approx}{usage.completion_tokens} tokens "
        f"({approx}{usage.total_tokens})",
        *usage_facts(result),
        f"first token {format_seconds(result.time_to_first_token)}",
    ]
    answer = answer_after(result)
    if answer is not None:
        parts.append(f"answer after {format_seconds(answer)}")
    if result.tokens_per_second:
        scope = " (answer only)" if result.hidden_reasoning else ""
        parts.append(f"{result.tokens_per_second:.1f} tok/s{scope}")
    parts.append(f"total {format_seconds(result.timings.total)}")
    parts += filter(None, [calls_fact(result)])
    parts.append(ending(result))
    if result.attached:
        parts.append(f"attached {result.attached}")
    if thread and thread != "default":
        parts.append(f"thread {thread}")
    if cost is not None:
        parts.append(f"${usage.cost if usage.cost is not None else cost:.4f}")
    elif usage.cost is not None:
        parts.append(f"${usage.cost:.4f}")
    elif not priced and not result.replayed and not local_backend(result.backend):
        parts.append("price unknown")
    if result.replayed:
        parts.append(replayed_from(result))
    if result.backend == OFFLINE_BACKEND:
        parts.append(OFFLINE_BACKEND)
    return " · ".join(parts)


def replayed_from(result: ChatResult) -> str:
    """'replayed from 2026-11-24': the date the reply was recorded, in UTC so that re-runs
    anywhere show the same output."""
    started = result.timings.started_at
    if not started:
        return "replayed"
    return f"replayed from {time.strftime('%Y-%m-%d', time.gmtime(started))}"


def ending(result: ChatResult) -> str:
    """Why the reply stopped, in a few words."""
    tokens = count(result.usage.completion_tokens)
    if result.status is Status.INTERRUPTED:
        return f"interrupted after {tokens}"
    if result.status is Status.INCOMPLETE and stopped_reasoning(result):
        return f"stopped by max_tokens while reasoning, after {tokens}"
    if result.status is Status.INCOMPLETE:
        cause = "connection lost" if result.error == "connection lost" else "stream ended early"
        return f"{cause} after {tokens} (no finish reason)"
    if result.status is Status.FAILED:
        return f"failed after {tokens}"
    return {
        "stop": "finished",
        "length": "stopped: max tokens reached",
        "content_filter": "stopped by the content filter",
        "tool_calls": "asked for tool calls",
    }.get(result.finish_reason or "", result.finish_reason or "finished")


def reasoning_time(result: ChatResult) -> str:
    """How long the reasoning lasted, as shown ('' when there was none to time)."""
    seconds = reasoning_seconds(result)
    return "" if seconds is None else format_seconds(seconds)


def reply_markdown(result: ChatResult, *, reasoning: bool = True, rounds: bool = True) -> str:
    """The reply body as safe Markdown: tool rounds and reasoning (unless `rounds=False`,
    `reasoning=False`: the panel builds their folds as HTML), text, refusal, tool calls."""
    section = reasoning_markdown(result, reasoning_time(result)) if reasoning else ""
    calls = rounds_markdown(result) if rounds else ""
    # In the order it came: each round's reasoning and calls, then the answer's reasoning.
    parts = [part for part in (calls, section) if part]
    if result.text:
        parts.append(safe_markdown(result.text))
    if result.refusal:
        # Labels go on a line of their own: a reply's first block may be a fence.
        parts.append(f"**Refusal:**\n\n{safe_markdown(result.refusal)}")
    for call in result.tool_calls:
        parts.append(f"**Tool call** {literal(call.name or '?')}")
        parts.append(code_block(call.arguments, "json"))
    return "\n\n".join(parts)


def reply_text(result: ChatResult) -> str:
    """The reply body as plain text."""
    parts = [part for part in (rounds_text(result), reasoning_plain(result)) if part]
    if result.text:
        parts.append(result.text)
    if result.refusal:
        parts.append(f"Refusal: {result.refusal}")
    parts.extend(f"Tool call {c.name}({c.arguments})" for c in result.tool_calls)
    return "\n\n".join(parts)


def bundle(
    result: ChatResult,
    last_line: str,
    notices: tuple[str, ...] = (),
    *,
    plain_only: bool = False,
    live: bool = False,
) -> dict[str, str]:
    """The display bundle: safe Markdown and real plain text, with a last line under the reply
    (`live`: the status line of a reply on its way, else its footer) led by its badge."""
    plain = "\n".join([*(f"[{n}]" for n in notices), reply_text(result), last_line]).strip()
    if plain_only:
        return {"text/plain": plain}
    notes = [f"*{literal(n)}*" for n in notices]
    last = [line_html(*split(result, last_line, live=live))] if last_line else []
    markdown = "\n\n".join([*notes, reply_markdown(result), *last])
    return {"text/markdown": markdown, "text/plain": plain}


@dataclass(frozen=True)
class _Form:
    """How one transcript form writes a speaker's label, a user message and a reply."""

    label: Callable[[str, str], str]  # (speaker, why it ended, "" if complete) -> the label
    user: Callable[[str], str]
    reply: Callable[[ChatResult], str]
    between: str  # what separates the messages


MARKDOWN_FORM = _Form(
    label=lambda who, why: (
        f"**{literal(who)}:**" + (f" *({literal(why)})*" if why else "") + "\n\n"
    ),
    user=safe_markdown,
    reply=reply_markdown,
    between="\n\n---\n\n",
)
_TEXT = _Form(
    label=lambda who, why: f"{who} ({why}): " if why else f"{who}: ",
    user=str,
    reply=reply_text,
    between="\n\n",
)


def transcript(thread: Thread, form: _Form) -> str:
    """A thread's messages written in one form (Markdown, plain text, a document)."""
    parts = [form.label("System", "") + form.user(thread.system)] if thread.system else []
    for exchange in thread.exchanges:
        result = exchange.result
        why = "" if result.status is Status.COMPLETE else ending(result)
        parts.append(form.label("You", "") + form.user(exchange.user))
        parts.append(form.label(result.model or "Assistant", why) + form.reply(result))
    return form.between.join(parts)


def transcript_markdown(thread: Thread) -> str:
    """A thread as a readable chat, model output made safe."""
    return transcript(thread, MARKDOWN_FORM)


def transcript_text(thread: Thread) -> str:
    """A thread as plain text."""
    return transcript(thread, _TEXT)


@dataclass
class Throttle:
    """Decides when the next update may go out: at most `max_rate` a second, and no more
    bytes a second than `byte_budget` past the first `free` bytes of an update, since each
    update re-sends the whole output: the interval grows with the output's size."""

    max_rate: float = 10.0
    byte_budget: float = 100_000.0
    free: int = 0
    _last: float | None = None
    _size: int = 0

    def wait(self, now: float) -> float:
        """Seconds to wait before the next update may be sent (0: send now)."""
        if self._last is None:
            return 0.0
        interval = max(1.0 / self.max_rate, (self._size - self.free) / self.byte_budget)
        return max(0.0, self._last + interval - now)

    def sent(self, now: float, size: int) -> None:
        """Record that an update of `size` bytes went out at `now`."""
        self._last, self._size = now, size

    def reset(self) -> None:
        """Let the next update go out at once (the first token must show within 50 ms)."""
        self._last = None


def metadata(result: ChatResult, *, thread: str, turn_id: str) -> dict[str, Any]:
    """The output's metadata: nbstream's record of the turn, for tools and later sessions."""
    return {
        "nbstream": {
            "turn_id": turn_id,
            "thread": thread,
            "model": result.model,
            "status": result.status.value,
            "finish_reason": result.finish_reason,
            "replayed": result.replayed,
            "usage": {
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
                "total_tokens": result.usage.total_tokens,
                "estimated": result.usage.estimated,
            },
            "timings": {
                "time_to_first_token": result.time_to_first_token,
                "tokens_per_second": result.tokens_per_second,
                "total": result.timings.total,
            },
        }
    }
