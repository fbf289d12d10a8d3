"""nbstream from Python code: the same turns as `%%chat`, sync and async.

Every function takes the `%%chat` options as keywords (model, system, thread, new, no_history,
temperature, max_tokens, top_p, seed, timeout, retries, stream, cache, api (an `Api`),
hide_reasoning); any other keyword is a request parameter sent as is (`response_format=...`,
`reasoning_effort="high"`, `verbosity="low"`, `reasoning_summary="auto"`).

Functions are stateless: they send and record no history unless given `thread=` (`gather` and
`agather` never do), so a loop over data costs the same for every row. `Chat` keeps a
conversation.
"""

from __future__ import annotations

import asyncio
import queue
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from .engine import loop
from .engine.result import ChatResult, Event, Status, TextDelta, with_status
from .errors import NbStreamError, StreamError, incomplete_error
from .gather import agather_turns, compare_turns, gather_turns
from .session import Session, TurnOptions, current
from .show.live import LiveView, driver
from .show.rendering import metadata
from .show.surfaces import surface_for

_OPTIONS = {"thread", "model", "system", "new", "no_history", "timeout", "retries", "stream",
            "cache", "api", "hide_reasoning"}  # fmt: skip
_PARAMS = ("temperature", "max_tokens", "top_p", "seed")


def turn_options(options: dict[str, Any]) -> TurnOptions:
    """TurnOptions from keyword options; unknown keywords become request parameters.

    Without a `thread` the turn is a one-off: no history is sent or recorded.
    """
    params = dict(options.pop("params", None) or {})
    known = {k: options.pop(k) for k in list(options) if k in _OPTIONS}
    params.update({k: v for k, v in options.items() if v is not None})
    if known.get("thread") is None:
        known.pop("thread", None)
        known.setdefault("no_history", True)
    return TurnOptions(params=params, **known)


def _allowed(result: ChatResult, allow_incomplete: bool) -> ChatResult:
    if result.incomplete and not allow_incomplete:
        raise incomplete_error(result, "the partial reply is in err.result; "
                               "allow_incomplete=True returns it instead")  # fmt: skip
    return result


def chat(
    prompt: str,
    *,
    show: bool | None = None,
    session: Session | None = None,
    allow_incomplete: bool = True,
    **options: Any,
) -> ChatResult:
    """Send `prompt` and return the reply with its status; it streams live in a notebook or a
    terminal (`show=None`: where there is somewhere to show it, not in plain scripts).

    `allow_incomplete=False` raises IncompleteError for a reply that ended without a finish.
    """
    _check(prompt)
    session = session or current()
    drive = driver(surface_for(show), cost=session.cost)
    return _allowed(session.chat(prompt, turn_options(options), drive), allow_incomplete)


async def achat(
    prompt: str,
    *,
    show: bool | None = None,
    session: Session | None = None,
    allow_incomplete: bool = True,
    **options: Any,
) -> ChatResult:
    """`await nbstream.achat(...)`: like `chat`, without blocking the caller's event loop."""
    _check(prompt)
    session = session or current()
    turn = turn_options(options)
    latest = ChatResult(status=Status.INCOMPLETE)

    def on_update(snapshot: ChatResult) -> None:
        nonlocal latest
        latest = snapshot

    def meta(result: ChatResult) -> dict[str, Any]:
        return metadata(result, thread=turn.thread, turn_id="")

    view = LiveView(
        surface_for(show), lambda: latest, thread=turn.thread, cost=session.cost, meta=meta
    )
    job = loop.submit(
        session.achat(prompt, turn, on_update=on_update, interval=0.05, sink=view.progress)
    )
    try:
        result = await loop.wait_async(job, tick=view.tick)
    except (KeyboardInterrupt, asyncio.CancelledError):
        view.end(with_status(latest, Status.INTERRUPTED))
        raise
    except StreamError as err:
        view.end(err.result, err)
        raise
    except NbStreamError as err:
        view.end(latest, err)
        raise
    view.end(result)
    return _allowed(result, allow_incomplete)


class TextStream:
    """An iterator of text deltas; `result` holds the whole reply once it is exhausted.

    Closing it (or leaving a `with` block, or a KeyboardInterrupt) stops the stream and
    closes the connection.
    """

    _END = object()

    def __init__(self, prompt: str, options: dict[str, Any], session: Session | None) -> None:
        _check(prompt)
        self.result: ChatResult | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        coro = (session or current()).achat(prompt, turn_options(options), sink=self._on_event)
        self._job = loop.submit(coro)
        self._job.future.add_done_callback(lambda _: self._queue.put(self._END))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._queue.put(event.text)

    def __iter__(self) -> Iterator[str]:
        try:
            while (item := self._next()) is not self._END:
                yield item
        except BaseException:
            self.close()
            raise
        self.result = self._job.future.result()

    def _next(self) -> Any:
        while True:  # short waits keep a kernel interrupt prompt
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue

    def close(self) -> None:
        """Stop the stream if it still runs."""
        if not self._job.future.done():
            self._job.cancel()

    def __enter__(self) -> TextStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream(prompt: str, *, session: Session | None = None, **options: Any) -> TextStream:
    """Iterate over the reply's text as it arrives: `for delta in nbstream.stream("Hi"): ...`."""
    return TextStream(prompt, options, session)


class AsyncTextStream:
    """An async iterator of text deltas; `result` holds the whole reply once exhausted."""

    _END = object()

    def __init__(self, prompt: str, options: dict[str, Any], session: Session | None) -> None:
        _check(prompt)
        self.result: ChatResult | None = None
        self._prompt, self._options, self._session = prompt, options, session
        self._job: loop.Job[ChatResult] | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        here = asyncio.get_running_loop()
        deltas: asyncio.Queue[Any] = asyncio.Queue()

        def on_event(event: Event) -> None:
            if isinstance(event, TextDelta):
                here.call_soon_threadsafe(deltas.put_nowait, event.text)

        session = self._session or current()
        coro = session.achat(self._prompt, turn_options(self._options), sink=on_event)
        self._job = job = loop.submit(coro)
        job.future.add_done_callback(
            lambda _: here.call_soon_threadsafe(deltas.put_nowait, self._END)
        )
        try:
            while (item := await deltas.get()) is not self._END:
                yield item
        except BaseException:
            job.cancel()
            raise
        self.result = job.future.result()


def astream(prompt: str, *, session: Session | None = None, **options: Any) -> AsyncTextStream:
    """`async for delta in nbstream.astream("Hi"): ...`; then `.result`."""
    return AsyncTextStream(prompt, options, session)


class Chat:
    """A conversation from code, kept in the session's store like a `%%chat` thread.

    `Chat(model=..., system=...)`, then `send(prompt)`; `history` is what the next request
    sends before the new prompt; `reset()` forgets the exchanges but keeps the system prompt.
    """

    def __init__(
        self,
        model: str | None = None,
        system: str | None = None,
        *,
        thread: str | None = None,
        session: Session | None = None,
        **defaults: Any,
    ) -> None:
        self.session = session or current()
        self.thread = thread or f"chat-{uuid.uuid4().hex[:8]}"
        self.model = model
        self._defaults = defaults
        if system is not None:
            self.session.store.set_system(self.thread, system)

    def send(self, prompt: str, *, show: bool | None = None, **options: Any) -> ChatResult:
        """Send `prompt` with the conversation so far; the reply joins the history."""
        merged = {**self._defaults, "model": self.model, **options, "thread": self.thread}
        return chat(prompt, show=show, session=self.session, **merged)

    async def asend(self, prompt: str, *, show: bool | None = None, **options: Any) -> ChatResult:
        """`await chat.asend(prompt)`."""
        merged = {**self._defaults, "model": self.model, **options, "thread": self.thread}
        return await achat(prompt, show=show, session=self.session, **merged)

    @property
    def history(self) -> list[dict[str, str]]:
        """The messages sent before the next prompt (system first)."""
        return self.session.store.messages(self.thread, "")[:-1]

    @property
    def system(self) -> str | None:
        """The conversation's system prompt."""
        return self.session.store.thread(self.thread).system

    def reset(self) -> None:
        """Forget the exchanges; keep the system prompt."""
        self.session.store.reset(self.thread)

    def __repr__(self) -> str:
        turns = len(self.session.store.thread(self.thread).exchanges)
        return f"Chat(thread={self.thread!r}, model={self.model!r}, turns={turns})"


def gather(
    prompts: Sequence[str],
    *,
    concurrency: int = 8,
    show: bool | None = None,
    session: Session | None = None,
    **options: Any,
) -> list[ChatResult]:
    """Stream every prompt at once (at most `concurrency` at a time), live in one grid.

    Prompts are one-offs (no thread history) unless `no_history=False` is given. Results come
    back in prompt order, each with its status; a failed item has `status` FAILED and the
    message in `error`, and no item raises.
    """
    for prompt in prompts:
        _check(prompt)
    options.setdefault("no_history", True)
    return gather_turns(
        session or current(), prompts, turn_options(options), concurrency=concurrency, show=show
    )


async def agather(
    prompts: Sequence[str],
    *,
    concurrency: int = 8,
    show: bool | None = None,
    session: Session | None = None,
    **options: Any,
) -> list[ChatResult]:
    """`await nbstream.agather(...)`: like `gather`, without blocking the caller's event loop,
    so other cells run meanwhile (`asyncio.ensure_future(nbstream.agather(...))`)."""
    for prompt in prompts:
        _check(prompt)
    options.setdefault("no_history", True)
    return await agather_turns(
        session or current(), prompts, turn_options(options), concurrency=concurrency, show=show
    )


def compare(
    prompt: str,
    models: Sequence[str],
    *,
    show: bool | None = None,
    session: Session | None = None,
    **options: Any,
) -> list[ChatResult]:
    """Send `prompt` to several models at once, side by side, then a comparison table.

    One-offs by default; given `thread=`, each model continues that thread's history in its
    own branch, `THREAD@MODEL`, so a follow-up can go on with any of them.
    """
    _check(prompt)
    return compare_turns(session or current(), prompt, models, turn_options(options), show=show)


def _check(prompt: str) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise NbStreamError("empty prompt", "pass the text to send, e.g. nbstream.chat('Hello')")
