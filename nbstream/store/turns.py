"""One turn in flight per thread: a second one is refused at once, never queued."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from ..errors import ThreadBusyError


class Turns:
    """The threads with a turn in flight; safe on any thread, the loop's included."""

    def __init__(self) -> None:
        self._busy: set[str] = set()  # under `_lock`
        self._lock = threading.Lock()  # never held across I/O or a wait

    @contextlib.contextmanager
    def guard(self, name: str) -> Iterator[None]:
        """Hold thread `name` for one turn; ThreadBusyError when another turn holds it."""
        with self._lock:
            if name in self._busy:
                raise ThreadBusyError(
                    f"a reply is already streaming on thread {name!r}",
                    hint="wait for it to finish or press Stop, or use another thread (-t NAME)",
                )
            self._busy.add(name)
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(name)
