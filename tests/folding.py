"""A wire dialect and an accumulator together: what the engine does with each parsed event."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nbstream.engine.accumulate import Accumulator
from nbstream.engine.responses import ResponsesWire
from nbstream.engine.result import ChatResult, Event
from nbstream.engine.wire import ChatWire


class Fold:
    """Feed parsed events (dicts) of one dialect; read the events passed on and the result."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        responses: bool = False,
        think_tags: bool = True,
        hide_reasoning: bool = False,
    ) -> None:
        self.wire = ResponsesWire() if responses else ChatWire(think_tags=think_tags)
        self.acc = Accumulator(clock=clock, hide_reasoning=hide_reasoning)

    def feed(self, data: dict[str, Any]) -> list[Any]:
        """The events passed on to the sink for one parsed SSE event."""
        self.acc.counted()
        return self._apply(self.wire.feed(data))

    def _apply(self, events: list[Any]) -> list[Any]:
        passed: list[Event] = []
        for event in events:
            out = self.acc.apply(event)
            if out is not None:
                passed.append(out)
        return passed

    def result(self, **options: Any) -> ChatResult:
        """The result once the stream ended."""
        self._apply(self.wire.end())
        return self.acc.result(**options)
