"""What a streaming reply costs in display traffic: every update re-sends its whole output, so
the live output is kept small and updated less often as it grows; short replies still update
about ten times a second. A clock moved by hand makes the pace exact."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from nbstream.engine.result import ChatResult, Status, Timings, Usage
from nbstream.show.live import LiveView
from nbstream.show.surfaces import NotebookSurface

WORDS = ("the", "notebook", "shows", "each", "token", "as", "soon", "as", "it", "arrives")


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reply(words: int, *, done: bool = False) -> ChatResult:
    text = " ".join(WORDS[i % len(WORDS)] for i in range(words))
    return ChatResult(
        text=text,
        status=Status.COMPLETE if done else Status.INCOMPLETE,
        model="m",
        finish_reason="stop" if done else None,
        usage=Usage(5, words, 5 + words),
        timings=Timings(first_token=0.1, last_token=0.1 + words / 100, total=words / 100),
    )


def stream(words: int, per_second: float, ticks_per_second: float = 100) -> list:
    """Everything a NotebookSurface displays for a reply of `words` words arriving at
    `per_second`, ticked `ticks_per_second` (the loop wakes the main thread at least that
    often), then ended."""
    clock, shown = Clock(), [0]
    view = LiveView(NotebookSurface(), lambda: reply(shown[0]), clock=clock)
    with capture_output() as captured:
        for tick in range(1, int(words / per_second * ticks_per_second) + 2):
            shown[0] = min(words, max(1, round(tick * per_second / ticks_per_second)))
            view.tick()
            clock.now += 1 / ticks_per_second
        view.end(reply(words, done=True))
    return captured.outputs


def sent_bytes(outputs: list) -> int:
    return sum(len(json.dumps(o.data)) for o in outputs)


@pytest.mark.parametrize("words", [5_000, 20_000])
def test_a_fast_reply_costs_at_most_four_times_its_size_in_updates(shell, words) -> None:
    outputs = stream(words, per_second=3_000)  # a kernel renders a reply at about this pace
    size = len(reply(words).text.encode())
    assert sent_bytes(outputs) <= 4 * size


def test_no_update_is_larger_than_a_few_pages(shell) -> None:
    outputs = stream(20_000, per_second=3_000)
    assert max(len(json.dumps(o.data)) for o in outputs) <= 40_000


def test_a_short_reply_updates_about_ten_times_a_second(shell) -> None:
    outputs = stream(300, per_second=50)  # 6 s, about 2 kB
    assert 55 <= len(outputs) <= 63  # 60 updates, the first display and the final one


def test_the_saved_outputs_read_as_the_whole_reply_once(shell) -> None:
    outputs = stream(5_000, per_second=3_000)
    finals: dict[str, dict[str, str]] = {}
    for output in outputs:  # the last update of each display is what the notebook keeps
        finals[output.transient["display_id"]] = output.data
    plain = [data["text/plain"] for data in finals.values()]
    plain[-1] = plain[-1].rsplit("\n", 1)[0]  # the footer
    assert " ".join(plain).split() == reply(5_000).text.split()
