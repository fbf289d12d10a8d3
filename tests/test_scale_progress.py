"""The progress view of a data-scale run, without a kernel: its size does not grow with the
number of items or their length, model text goes through the safe renderer, ETA and summary."""

from __future__ import annotations

from nbstream.engine.result import ChatResult, Status, Usage
from nbstream.scale.progress import Progress
from nbstream.show.progress import render


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reply(text: str, tokens: int = 10) -> ChatResult:
    return ChatResult(text=text, usage=Usage(completion_tokens=tokens))


def test_counts_cost_and_eta() -> None:
    clock = Clock()
    progress = Progress(10, clock=clock)
    progress.end("a", reply("x", 5), None, resumed=True)
    clock.now = 4.0
    progress.end("b", reply("y", 7), 0.5, resumed=False)
    progress.end("c", ChatResult(status=Status.FAILED, error="boom"), None, resumed=False)
    assert (progress.done, progress.failed, progress.resumed) == (2, 1, 1)
    assert progress.eta == 4.0 / 2 * 7  # two asked in 4 s, seven left
    line = render(progress, final=False)["text/plain"].splitlines()[0]
    assert line.startswith("3/10 done · 0 in flight · 1 failed · 1 from the record")
    assert " · $0.5000 · " in line and progress.completion_tokens == 7
