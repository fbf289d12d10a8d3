"""The tool loop: ask the model, run the tools it calls, send the results back, until it answers.

A `ToolLoop` is a turn's stream (`TurnStream`): the session runs it where it would run one
`ChatStream`, and the display shows its snapshots. Each round is one ChatStream; the calls of a
round run one after another, in the order the model gave them, on the kernel's main thread
(`mainthread.INBOX`), never on the loop thread. A tool's exception, invalid arguments, an unknown
tool name and a denied call all go back to the model as the tool's text. After `max_rounds` rounds
of calls the loop stops and keeps the model's last reply. A cancel keeps every round so far.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..engine.request import ChatRequest
from ..engine.result import ChatResult, Status, Timings, ToolCall, Usage
from ..engine.stream import Sink
from ..engine.toolrounds import Outcome, ToolActivity, ToolRound, ToolRun, round_messages
from ..errors import NbStreamError, StreamError
from .approval import Approve, AskTool, approved, cannot_ask, must_ask
from .function import Tool, parse_arguments
from .mainthread import INBOX, Inbox, printing_to
from .results import error_text, result_text

StartRound = Callable[[ChatRequest], Any]  # a request -> its TurnStream (a ChatStream)
DENIED = "denied: the user did not allow this call"


class ToolLoop:
    """One turn of tool rounds. `run()` on the loop thread; `snapshot()` from any thread."""

    def __init__(
        self,
        request: ChatRequest,
        tools: list[Tool],
        start: StartRound,
        *,
        approve: Approve = Approve.ASK,
        max_rounds: int = 8,
        result_chars: int = 20_000,
        keys: list[str] | None = None,
        ask: AskTool | None = None,
        prints: Callable[[str], None] | None = None,
        inbox: Inbox = INBOX,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.request, self._tools, self._start = request, {t.name: t for t in tools}, start
        self._approve, self._max_rounds, self._asker = approve, max_rounds, ask
        self._prints = prints
        self._chars, self._keys, self._inbox, self._clock = result_chars, keys or [], inbox, clock
        self.sink: Sink = lambda event: None
        self.result: ChatResult | None = None
        self._began = clock()
        self._rounds: list[ToolRound] = []
        self._answers: list[tuple[float, ChatResult]] = []  # each finished round's reply
        self._stream: Any = None
        self._offset = 0.0  # when the current round's request was sent
        self._running: list[ToolRun] = []  # runs of the round whose calls are running
        # What the current call waits for, shown live: the user (ASKING), the kernel's main
        # thread (WAITING), or nothing (None: it runs). Set on the loop thread, cleared on the
        # main one as the call starts, read by snapshots on any thread: one value, written whole.
        self._pending: Outcome | None = None

    @property
    def has_output(self) -> bool:
        """True once any round produced output."""
        return bool(self._answers) or (self._stream is not None and self._stream.has_output)

    def snapshot(self) -> ChatResult:
        """Every round so far and the reply streaming now."""
        return self.result or self._joined(self._current(), Status.INCOMPLETE)

    def interrupted(self) -> ChatResult:
        """End as interrupted, keeping every round and call so far."""
        if self.result is None:
            current = self._stream.interrupted() if self._stream is not None else ChatResult()
            self.result = self._joined(current, Status.INTERRUPTED)
        return self.result

    async def run(self) -> ChatResult:
        """Rounds until the model answers without calls, or the round limit."""
        messages = list(self.request.messages)
        try:
            for number in range(1, self._max_rounds + 2):
                answer = await self._ask(messages)
                if answer.status is not Status.COMPLETE or not answer.tool_calls:
                    return self._end(answer, answer.status)
                if number > self._max_rounds:
                    names = ", ".join(call.name for call in answer.tool_calls)
                    note = f"stopped after {self._max_rounds} tool rounds; not run: {names}"
                    return self._end(replace(answer, notices=(*answer.notices, note)))
                self._answers.append((self._offset, answer))
                done = await self._round(answer)
                messages += round_messages([done])
        except asyncio.CancelledError:
            self.interrupted()
            raise
        except StreamError as err:
            raise StreamError(
                err.message, err.hint, result=self._end(err.result, Status.FAILED)
            ) from None
        except NbStreamError as err:
            if not self._answers:
                raise  # nothing came: the turn failed before any output, as a plain turn does
            failed = replace(ChatResult(status=Status.FAILED), error=err.message)
            raise StreamError(
                err.message, err.hint, result=self._end(failed, Status.FAILED)
            ) from err
        raise AssertionError("unreachable: the last round returns")

    async def _ask(self, messages: list[dict[str, Any]]) -> ChatResult:
        self._offset = self._clock() - self._began
        self._stream = self._start(replace(self.request, messages=list(messages)))
        self._stream.sink = self.sink
        result: ChatResult = await self._stream.run()
        return result

    async def _round(self, answer: ChatResult) -> ToolRound:
        self._running = []
        for index, call in enumerate(answer.tool_calls):
            self._running.append(await self._run(call, index))
        done = ToolRound(
            tuple(self._running), answer.text, answer.reasoning_items, answer.reasoning
        )
        self._rounds.append(done)
        self._running = []
        return done

    async def _run(self, call: ToolCall, index: int) -> ToolRun:
        run = ToolRun(call.id or f"call_{len(self._rounds)}_{index}", call.name, call.arguments)
        tool = self._tools.get(call.name)
        if tool is None:
            offered = ", ".join(self._tools) or "none"
            text = f"error: there is no tool named {call.name!r}; the tools are: {offered}"
            return replace(run, output=text, outcome=Outcome.UNKNOWN)
        try:
            arguments = parse_arguments(call.arguments)
        except ValueError as err:
            text = f"error: the arguments are not a valid JSON object ({err}); send them again"
            return replace(run, output=text, outcome=Outcome.ERROR)
        # Shown as running until it ends; an interrupt leaves it in the round, flagged.
        self._running.append(replace(run, outcome=Outcome.INTERRUPTED))
        allowed = await self._asked(tool, call)
        if allowed is False:
            self._running.pop()
            return replace(run, output=DENIED, outcome=Outcome.DENIED)
        # A waiting cell takes the call at once; otherwise it waits for the kernel.
        self._pending = None if self._inbox.cell_waits() else Outcome.WAITING
        outcome, output, seconds = await self._inbox.run(
            lambda: self._on_main(tool, arguments, call.arguments, allowed is True), self._wake
        )
        self._running.pop()
        return replace(run, output=output, outcome=outcome, seconds=seconds)

    async def _asked(self, tool: Tool, call: ToolCall) -> bool | None:
        """The front end's answer for a call that needs one (None: it does not ask, or the
        call needs no answer)."""
        if self._asker is None or not must_ask(tool, self._approve):
            return None
        self._pending = Outcome.ASKING
        try:
            return await self._asker(call.name, call.arguments)
        finally:
            self._pending = None

    def _wake(self) -> None:
        self.sink(ToolActivity("a tool call waits for the kernel"))

    def _on_main(
        self, tool: Tool, arguments: dict[str, Any], text: str, asked: bool
    ) -> tuple[Outcome, str, float]:
        """Runs on the kernel's main thread: approval (unless asked already), the call, its
        result as text. Only a cell waiting for the turn can ask with `input()`."""
        self._pending = None
        ask = None if self._inbox.in_cell else cannot_ask
        if not asked and not approved(tool, text, self._approve, ask):
            return Outcome.DENIED, DENIED, 0.0
        started = self._clock()
        try:
            with printing_to(self._prints):
                value = tool.call(arguments)
        except Exception as err:  # the tool's own failure goes back to the model
            return Outcome.ERROR, error_text(err, self._keys), self._clock() - started
        seconds = self._clock() - started
        return Outcome.OK, result_text(value, self._chars, self._keys), seconds

    def _current(self) -> ChatResult:
        return self._stream.snapshot() if self._stream is not None else ChatResult()

    def _end(self, last: ChatResult, status: Status = Status.COMPLETE) -> ChatResult:
        if self.result is None:
            self.result = self._joined(last, status)
        return self.result

    def _joined(self, last: ChatResult, status: Status) -> ChatResult:
        """`last` with every round before it: rounds, usage summed, timings joined."""
        rounds = [*self._rounds]
        if self._running:
            running = list(self._running)
            if status is Status.INCOMPLETE and self._pending is not None:
                running[-1] = replace(running[-1], outcome=self._pending)
            rounds.append(ToolRound(tuple(running), reasoning=self._answers[-1][1].reasoning))
        parts = [*self._answers, (self._offset, last)]
        if self._answers and self._answers[-1][1] is last:
            # Stopped while its calls ran: they and its reasoning are in the rounds, its usage
            # is counted once.
            parts, last = parts[:-1], replace(last, tool_calls=(), text="", reasoning="")
        answers = [answer for _, answer in parts]
        notices = tuple(dict.fromkeys(n for answer in answers for n in answer.notices))
        return replace(
            last,
            status=status,
            tool_rounds=tuple(rounds),
            usage=summed([answer.usage for answer in answers]),
            timings=joined(parts, self._clock() - self._began),
            notices=notices,
        )


def summed(usages: list[Usage]) -> Usage:
    """The usage of several requests as one."""

    def total(values: list[Any]) -> Any:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        completion_tokens=sum(u.completion_tokens for u in usages),
        total_tokens=sum(u.total_tokens for u in usages),
        estimated=any(u.estimated for u in usages),
        reasoning_tokens=total([u.reasoning_tokens for u in usages]),
        cached_tokens=total([u.cached_tokens for u in usages]),
        cost=total([u.cost for u in usages]),
    )


def joined(parts: list[tuple[float, ChatResult]], total: float) -> Timings:
    """One Timings for replies sent at these offsets: the first token is the first round's, and
    the token window is the sum of each round's own (tool runs and waits are not generation)."""
    spans = [(off, r.timings) for off, r in parts if r.timings.first_token is not None]
    started = parts[0][1].timings.started_at
    if not spans:
        return Timings(started_at=started, total=total)
    offset, head = spans[0]
    first = offset + (head.first_token or 0.0)
    window = sum((t.last_token or t.first_token or 0.0) - (t.first_token or 0.0) for _, t in spans)
    answer = next(
        (off + t.first_answer_token for off, t in spans if t.first_answer_token is not None), None
    )
    return Timings(started, first, first + window, total, answer)
