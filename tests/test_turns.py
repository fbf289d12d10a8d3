"""One turn in flight per thread: a second is refused at once, and the hold always ends."""

from __future__ import annotations

import pytest

from nbstream.errors import ThreadBusyError
from nbstream.store.turns import Turns


def test_a_second_turn_on_the_same_thread_is_refused_another_thread_is_not() -> None:
    turns = Turns()
    with turns.guard("t"):
        busy = "a reply is already streaming on thread 't'"
        with pytest.raises(ThreadBusyError, match=busy), turns.guard("t"):
            pass
        with turns.guard("other"):
            pass
    with turns.guard("t"):  # released once the first turn ended
        pass


def test_the_hold_ends_when_the_turn_raises() -> None:
    turns = Turns()
    with pytest.raises(KeyboardInterrupt), turns.guard("t"):
        raise KeyboardInterrupt
    with turns.guard("t"):
        pass
