"""A kernel's nbstream session: configuration, the conversation store, usage totals.

Every surface (magics, panel, Python API) runs its turns through `Session.chat`, so the
rules live in one place: what is sent, what is recorded, what a failure leaves behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conversation import DEFAULT, ConversationStore
from .engine import ChatRequest, ChatStream
from .errors import StreamError
from .live import Surface, stream_to
from .pricing import UsageTotals, cost
from .rendering import metadata
from .result import ChatResult
from .settings import NbStream, Settings, resolve


@dataclass(frozen=True)
class TurnOptions:
    """How to run one turn; None means 'from the settings'."""

    thread: str = DEFAULT
    model: str | None = None
    system: str | None = None
    new: bool = False
    no_history: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    retries: int | None = None
    stream: bool = True


class Session:
    """Owns the conversation store and usage totals of one kernel."""

    def __init__(self, config: NbStream | None = None, state: Path | None = None) -> None:
        self.config = config or NbStream()
        self.store = ConversationStore.open(state) if state else ConversationStore()
        self.totals = UsageTotals()
        self.last: ChatResult | None = None

    def settings(self, options: TurnOptions) -> Settings:
        """Resolve the settings for a turn with these options."""
        timeout = options.timeout
        return resolve(
            self.config,
            model=options.model,
            first_token_timeout=timeout,
            idle_timeout=timeout,
            max_retries=options.retries,
        )

    def chat(
        self, prompt: str, options: TurnOptions, surface: Surface, *, cell_id: str | None = None
    ) -> ChatResult:
        """Run one turn: send the thread's history and `prompt`, show it, record the reply.

        A failure before the first token records nothing; a partial reply (interrupted,
        incomplete, failed) is recorded with its status before the error propagates.
        """
        settings = self.settings(options)
        thread = options.thread
        if options.system is not None:
            self.store.set_system(thread, options.system)
        if options.new:
            self.store.reset(thread)
        if options.no_history:
            system = self.store.thread(thread).system
            messages = [{"role": "system", "content": system}] if system else []
            messages.append({"role": "user", "content": prompt})
        else:
            limit = self.config.history_limit
            messages = self.store.messages(thread, prompt, limit=limit, cell_id=cell_id)
        request = ChatRequest(messages, settings.model, dict(options.params), options.stream)
        stream = ChatStream(request, settings)
        turn_id = uuid.uuid4().hex

        def meta(result: ChatResult) -> dict[str, Any]:
            return metadata(result, thread=thread, turn_id=turn_id)

        with self.store.turn(thread):
            try:
                result = stream_to(stream, surface, thread=thread, cost=self.cost, meta=meta)
            except (KeyboardInterrupt, StreamError):
                if stream.has_output and stream.result is not None:
                    self._keep(prompt, stream.result, options, cell_id, turn_id)
                raise
        self._keep(prompt, result, options, cell_id, turn_id)
        return result

    def cost(self, result: ChatResult) -> float | None:
        """The reply's cost in dollars, with configured prices over the built-in table."""
        extra = {k: (float(v[0]), float(v[1])) for k, v in self.config.prices.items()}
        return cost(result, extra)

    def _keep(
        self,
        prompt: str,
        result: ChatResult,
        options: TurnOptions,
        cell_id: str | None,
        turn_id: str,
    ) -> None:
        self.last = result
        self.totals.add(result, self.cost(result))
        if not options.no_history:
            self.store.record(options.thread, prompt, result, cell_id=cell_id, turn_id=turn_id)


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
