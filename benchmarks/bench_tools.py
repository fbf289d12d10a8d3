"""Tool loop benchmarks: what a tool round costs beyond the model's own time.

Usage (from the repository root, in the project's virtualenv):

    python benchmarks/bench_tools.py            # 20 turns of each kind
    python benchmarks/bench_tools.py --runs 50

Against the real offline server (no pacing) through the real SDK, in-process: a plain turn, and a
turn with one tool round (two requests, one call on the main thread). The extra time of the tool
turn is one more request plus the hand-over to the main thread and back; the hand-over itself is
timed from the moment the loop thread queues the call to the moment the function starts.
Each row is the median of `--runs` (the worst beside it); read a ✗ together with the load.

Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbstream
from nbstream.offline.server import OfflineServer
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.tools import mainthread


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    os.environ["OPENAI_API_KEY"] = "sk-bench-0123456789abcdef"
    handovers: list[float] = []
    queued: dict[str, float] = {}
    original = mainthread.Inbox.run

    async def timed_run(self, call, wake):  # type: ignore[no-untyped-def]
        queued["at"] = time.perf_counter()
        return await original(self, call, wake)

    mainthread.Inbox.run = timed_run  # type: ignore[method-assign]

    @nbstream.tool(safe=True)
    def weather(city: str) -> str:
        """The weather in a city."""
        handovers.append(time.perf_counter() - queued["at"])
        return f"sunny in {city}"

    with OfflineServer(rate=0) as server, tempfile.TemporaryDirectory() as tmp:
        session = Session(NbStream(base_url=server.url, model="nbstream-demo"),
                          cache=Path(tmp) / "c.sqlite")  # fmt: skip
        plain, tools = [], []
        for _ in range(runs):
            started = time.perf_counter()
            nbstream.chat("Weather?", session=session, show=False)
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            nbstream.chat("Weather?", session=session, show=False, tools=[weather])
            tools.append(time.perf_counter() - started)
    extra = statistics.median(tools) - statistics.median(plain)
    rows = [
        ("plain turn", plain, None),
        ("turn with one tool round", tools, None),
        ("main-thread hand-over", handovers, 0.05),
    ]
    print(f"load average {os.getloadavg()[0]:.1f}, {runs} runs\n")
    print(f"{'measure':28} {'median':>9} {'worst':>9}  target")
    for name, values, target in rows:
        median, worst = statistics.median(values), max(values)
        verdict = "" if target is None else ("✓" if median <= target else "✗") + f" ≤ {target}s"
        print(f"{name:28} {median * 1000:7.1f}ms {worst * 1000:7.1f}ms  {verdict}")
    ok = "✓" if extra <= statistics.median(plain) * 1.5 else "✗"
    print(
        f"{'tool round beyond a request':28} {extra * 1000:7.1f}ms {'':9}  {ok} ≤ 1.5 plain turns"
    )


if __name__ == "__main__":
    main()
