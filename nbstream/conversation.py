"""`nbstream.Chat`: a conversation from code, kept in the store like a `%%chat` thread."""

from __future__ import annotations

import uuid
from typing import Any

from .api import achat, chat
from .engine.result import ChatResult
from .session import Session, current


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
