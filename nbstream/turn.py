"""One turn: the options it runs with, and once prepared, what it sends and where it is kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .context.prompt import Prompt
from .engine.result import ChatResult, Status
from .engine.stream import TurnStream
from .settings import Api
from .store.cache_key import CacheRequest
from .store.threads import DEFAULT
from .tools.turn import FrontEnd


@dataclass(frozen=True)
class TurnOptions:
    """How to run one turn; None means 'from the settings'."""

    thread: str = DEFAULT
    model: str | None = None
    system: str | None = None
    new: bool = False
    no_history: bool = False
    recorded: bool = True  # False: the thread's history is sent; the caller records the turn
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    retries: int | None = None
    stream: bool = True
    cache: str | None = None
    api: Api | str | None = None  # chat, responses or auto
    hide_reasoning: bool | None = None
    tools: tuple[Any, ...] = ()  # functions (or lists of them) the model may call
    approve: str | None = None  # ask or auto (None: NbStream.approve)
    max_tool_rounds: int | None = None
    tool_front: FrontEnd | None = None  # the panel's Approve / Deny and prints (None: the cell)

    @property
    def records(self) -> bool:
        """Whether the turn itself records its exchange on its thread."""
        return not self.no_history and self.recorded


@dataclass(frozen=True)
class Turn:
    """One prepared turn: what is sent, the stream that sends it, and where it is recorded."""

    prompt: str
    options: TurnOptions
    cell_id: str | None
    turn_id: str
    stream: TurnStream
    to_record: CacheRequest | None  # the request to store a complete reply under

    @property
    def thread(self) -> str:
        """The conversation thread the turn belongs to."""
        return self.options.thread

    @property
    def images(self) -> list[dict[str, Any]]:
        """The image parts the prompt attaches, which the thread keeps with the exchange."""
        return self.prompt.image_parts() if isinstance(self.prompt, Prompt) else []

    def writes(self, result: ChatResult) -> bool:
        """Whether committing `result` writes to the store or the response cache."""
        cached = self.to_record is not None and result.status is Status.COMPLETE
        return self.options.records or cached

    @property
    def kept(self) -> ChatResult | None:
        """The partial reply kept after an interrupt or a broken stream (None: nothing came)."""
        return self.stream.result if self.stream.has_output else None
