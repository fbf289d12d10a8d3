"""A kernel's nbstream session: configuration, the conversation store, usage totals.

Every surface (magics, panel, Python API) runs its turns through `Session.chat` or
`Session.achat`, so the rules live in one place: what is sent, what is recorded, what a
failure leaves behind. The session knows nothing of display: the caller hands `chat` a
`drive` function (the show layer's) that runs the turn's stream and shows it.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import offline
from .context.images import parts_tokens
from .context.prompt import Prompt
from .engine.clients import list_models
from .engine.foreign import user_facing
from .engine.result import ChatResult, Status
from .engine.stream import ChatRequest, ChatStream, Sink, TurnStream
from .errors import StreamError
from .pricing import UsageTotals, cost
from .redact import KEY_FILTER, check_request, configured_keys, guard_logs
from .settings import OPENAI_URL, NbStream, Settings, resolve
from .store.apis import ServerMemory
from .store.cache import ResponseCache, cache_path
from .store.cache_policy import stream_for
from .store.threads import ConversationStore
from .tools.turn import ToolSet
from .turn import Turn, TurnOptions


class Session:
    """Owns the conversation store, the response cache and usage totals of one kernel."""

    def __init__(
        self,
        config: NbStream | None = None,
        store: ConversationStore | None = None,
        cache: Path | None = None,
    ) -> None:
        guard_logs(KEY_FILTER, on=True)  # the SDK's debug logs print request headers
        self.config = config or NbStream()
        self.store = store or ConversationStore()
        self.cache = ResponseCache(cache or cache_path(None))
        self.apis = ServerMemory(self.cache.path.with_name("apis.sqlite"))
        self.totals = UsageTotals()
        self.last: ChatResult | None = None
        # `last` and `totals` change when a turn ends: on the main thread (cells) or on an
        # executor thread (panel, gather); this lock orders them.
        self._lock = threading.Lock()
        self._offline_notice: str | None = None  # said by the first turn after the server started
        self._watchers: list[Callable[[str], None]] = []  # told of each thread that records

    def watch(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(thread)` after a thread records turns, on the thread that recorded
        them (the main thread or a worker, never the loop's); returns the call that stops it."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def settings(self, options: TurnOptions) -> Settings:
        """Resolve the settings for a turn with these options."""
        return resolve(
            self.config,
            model=options.model,
            first_token_timeout=options.timeout,
            idle_timeout=options.timeout,
            max_retries=options.retries,
            cache=options.cache,
            api=options.api,
            hide_reasoning=options.hide_reasoning,
        )

    async def models(self, options: TurnOptions) -> list[str]:
        """The model ids the backend for these options offers ([] when it does not say)."""
        return await list_models(with_backend(self.settings(options), self._said_offline))

    def _said_offline(self, notice: str) -> None:
        self._offline_notice = notice

    def _take_offline_notice(self) -> str | None:
        notice, self._offline_notice = self._offline_notice, None
        return notice

    @user_facing
    def chat(
        self,
        prompt: str,
        options: TurnOptions,
        drive: Callable[[Turn], ChatResult],
        *,
        cell_id: str | None = None,
    ) -> ChatResult:
        """Run one turn from the main thread: `drive(turn)` runs its stream and shows it.

        A failure before the first token changes nothing; a partial reply (interrupted,
        incomplete, failed) is recorded with its status before the error propagates.
        """
        turn = self._prepare(prompt, options, cell_id)
        with self.holding(options):
            try:
                result = drive(turn)
            except (KeyboardInterrupt, StreamError):
                self._keep_partial(turn)
                _say_not_saved(self.not_saved())
                raise
        self._commit(turn, result)
        _say_not_saved(self.not_saved())
        return result

    @user_facing
    async def achat(
        self,
        prompt: str,
        options: TurnOptions,
        *,
        on_update: Callable[[ChatResult], None] | None = None,
        interval: float = 0.1,
        cell_id: str | None = None,
        sink: Sink | None = None,
        on_start: Callable[[Turn], None] | None = None,
    ) -> ChatResult:
        """Run one turn on nbstream's loop; `on_update(snapshot)` is called every `interval` s,
        `sink` gets the stream's events and `on_start` the turn before it runs.

        Cancelling the task stops the stream, closes the connection and records the partial
        reply as interrupted (`turn.kept`). The same recording rules as `chat` apply; the
        records are written off the loop thread, so a slow disk never stalls other streams.
        """
        # The store reads and writes files: never on the loop thread, where streams run.
        turn = await asyncio.to_thread(self._prepare, prompt, options, cell_id)
        if sink is not None:
            turn.stream.sink = sink
        if on_start is not None:
            on_start(turn)
        with self.holding(options):
            ticker = asyncio.ensure_future(_tick(turn.stream, on_update, interval))
            try:
                result = await turn.stream.run()
            except (asyncio.CancelledError, StreamError):
                # Shielded: a second cancel must not lose the record of the first.
                await asyncio.shield(asyncio.to_thread(self._keep_partial, turn))
                raise
            finally:
                ticker.cancel()
        if not turn.writes(result):  # the totals alone: no hop off the loop, which waits its turn
            self._keep(turn, result)
            return result
        await asyncio.to_thread(self._commit, turn, result)
        problem = await asyncio.to_thread(self.not_saved)  # waits for the store's lock
        return replace(result, notices=(*result.notices, problem)) if problem else result

    def not_saved(self) -> str | None:
        """'not saved: <why>' while the store holds changes it could not write, else None."""
        problem = self.store.unsaved_problem()
        kept = "kept in memory, written at the next successful save"
        return f"not saved: {problem}; {kept}" if problem is not None else None

    def holding(self, options: TurnOptions) -> AbstractContextManager[None]:
        """Hold the turn's thread for its run (ThreadBusyError if a turn already holds it).

        A one-off reads and writes no history, so it holds nothing; nor does a turn run with
        `recorded=False`, whose caller holds the thread for all its turns.
        """
        return self.store.turn(options.thread) if options.records else nullcontext()

    def record_all(self, options: TurnOptions, turns: Sequence[tuple[str, ChatResult]]) -> None:
        """Record turns run with `recorded=False` on `options.thread`, in the order given.

        A turn that produced no output is left out, as `chat` leaves out a failed turn; with
        none left, the thread is not touched (not even by `new`).
        """
        kept = [(p, r) for p, r in turns if r.status is Status.COMPLETE or r.text]
        if options.no_history or not kept:
            return
        self._record_options(options)
        for prompt, result in kept:
            self.store.record(options.thread, prompt, result)
        self._tell(options.thread)

    def _record_options(self, options: TurnOptions) -> None:
        if options.new:
            self.store.reset(options.thread)
        if options.system is not None:
            self.store.set_system(options.thread, options.system)

    def _tell(self, thread: str) -> None:
        for watcher in tuple(self._watchers):  # a watcher may stop watching as it is told
            watcher(thread)

    def _prepare(self, prompt: str, options: TurnOptions, cell_id: str | None) -> Turn:
        settings = with_backend(self.settings(options), self._said_offline)
        thread = options.thread
        if options.no_history or options.new:
            messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        else:
            limit = self.config.history_limit
            history = self.store.messages(thread, prompt, limit=limit, cell_id=cell_id)
            messages = [m for m in history if m["role"] != "system"]
        system = options.system if options.system is not None else self.store.thread(thread).system
        messages[:0] = [{"role": "system", "content": system}] if system else []
        extras: dict[str, Any] = {}
        if isinstance(prompt, Prompt) and prompt.pieces:  # tables, images, files in the prompt
            messages[-1] = {"role": "user", "content": prompt.content()}
            openai = settings.host == urlsplit(OPENAI_URL).netloc
            extras = {"attached": prompt.attached(openai)}
        extras["image_tokens"] = parts_tokens(messages)  # the history's images go again too
        keys = configured_keys(settings.api_key)
        tools = ToolSet.of(options.tools, options.approve, options.max_tool_rounds, self.config,
                           keys, options.tool_front)  # fmt: skip
        params = tools.params(options.params)  # the tool schemas are part of the cache key
        request = ChatRequest(messages, settings.model, params, options.stream, **extras)
        check_request(request, configured_keys(settings.api_key))
        live = partial(self._live, request, settings, tools)
        stream, to_record = stream_for(self.cache, request, settings, cell_id, live)
        return Turn(prompt, options, cell_id, uuid.uuid4().hex, stream, to_record)

    def _live(self, request: ChatRequest, settings: Settings, tools: ToolSet) -> TurnStream:
        notice = self._take_offline_notice()
        first = ChatStream(request, settings, notice=notice, apis=self.apis)
        return tools.loop(first, lambda again: ChatStream(again, settings, apis=self.apis))

    def cost(self, result: ChatResult) -> float | None:
        """The reply's cost in dollars, with configured prices over the built-in table."""
        extra = {k: (float(v[0]), float(v[1])) for k, v in self.config.prices.items()}
        return cost(result, extra)

    def _commit(self, turn: Turn, result: ChatResult) -> None:
        """Keep a finished turn; store it in the response cache if it is to be recorded."""
        self._keep(turn, result)
        if turn.to_record is not None and result.status is Status.COMPLETE:
            self.cache.put(turn.to_record, result)

    def _keep(self, turn: Turn, result: ChatResult) -> None:
        """Commit a turn that produced output: the thread changes only now."""
        with self._lock:
            self.last = result
            self.totals.add(result, self.cost(result))
        options = turn.options
        if not options.records:
            return
        self._record_options(options)
        ids = {"cell_id": turn.cell_id, "turn_id": turn.turn_id}
        self.store.record(options.thread, turn.prompt, result, images=turn.images, **ids)
        self._tell(options.thread)

    def _keep_partial(self, turn: Turn) -> None:
        if turn.stream.has_output and turn.stream.result is not None:
            self._keep(turn, turn.stream.result)


def _say_not_saved(problem: str | None) -> None:
    # One line after the cell's reply, where the user is looking.
    if problem:
        print(f"nbstream: {problem}", file=sys.stderr)


async def _tick(
    stream: TurnStream, on_update: Callable[[ChatResult], None] | None, interval: float
) -> None:
    while on_update is not None:
        await asyncio.sleep(interval)
        on_update(stream.snapshot())


def with_backend(settings: Settings, on_start: Callable[[str], None] | None = None) -> Settings:
    """`settings` with the offline demo server's URL when it is the backend (started now if
    need be; `on_start` then gets the notice to show)."""
    if not settings.offline or settings.base_url:
        return settings
    url, started = offline.start()
    if started and on_start is not None:
        on_start(offline.NOTICE.format(url=url))
    return settings.with_(base_url=url)


_current: Session | None = None


def current() -> Session:
    """This kernel's session (made on first use when the extension was not loaded)."""
    global _current
    if _current is None:
        _current = Session()
    return _current


def set_current(session: Session | None) -> None:
    """Make `session` the kernel's session (`%load_ext` does this)."""
    global _current
    _current = session
