"""The conversation store's speed and size against issue 11's targets (its behaviour under
kills, two kernels and a full disk: bench_store_faults.py).

Usage (from the repository root, in the project's virtualenv):

    python benchmarks/bench_store.py            # every row
    python benchmarks/bench_store.py --quick    # fewer samples
    python benchmarks/bench_store.py --only overhead store

Bytes written are this process's write() bytes (/proc/self/io `wchar`) per turn, averaged over
50 turns. The turn overhead compares a 1-token reply through `Session.chat` (a re-run cell, so
the history stays 1,000 exchanges) with the raw SDK request sending the same body (history and
`stream_options`), against the offline server in its own process: interleaved, the median of
each round, and the median ratio of the rounds. The store's own work per turn (append, pick up
another kernel's exchange, the 'not saved' check) is timed apart at 10 and 1,000 exchanges.
`--only overhead store` runs some rows; the table says the load before and after. Benchmarks,
not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _harness import Report, run_rows, server

from nbstream.engine.request import ChatRequest, chat_kwargs
from nbstream.engine.result import ChatResult
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.show.live import driver
from nbstream.show.surfaces import NullSurface
from nbstream.store.cache import ResponseCache
from nbstream.store.cache_key import CacheRequest
from nbstream.store.threads import ConversationStore
from nbstream.turn import TurnOptions

REPORT = Report("conversation store")
ONE_TOKEN = {"nbstream": {"text": "ok", "rate": 0}}


def row(measure: str, value: str, target: str, ok: bool, baseline: str = "") -> None:
    REPORT.add(measure, value, baseline, target, ok)
    print(f"{'✓' if ok else '✗'} {measure}: {value} (target {target})", flush=True)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def written() -> int:
    io = Path("/proc/self/io").read_text()
    return int(re.search(r"wchar: (\d+)", io).group(1))  # type: ignore[union-attr]


def store_with(folder: Path, exchanges: int) -> ConversationStore:
    store = ConversationStore.open(folder / "conversations.sqlite", notebook="nb.ipynb")
    for n in range(exchanges):
        store.record("default", f"question {n} " * 20, ChatResult(text=f"answer {n} " * 60))
    return store


def bytes_per_turn(folder: Path, exchanges: int, turns: int = 50) -> float:
    store = store_with(folder, exchanges)
    before = written()
    for n in range(turns):
        store.record("default", f"new {n} " * 20, ChatResult(text=f"reply {n} " * 60))
    return (written() - before) / turns


def bench_bytes(work: Path) -> None:
    small, large = bytes_per_turn(work / "b10", 10), bytes_per_turn(work / "b1000", 1000)
    ratio = large / small
    value = f"{large / 1024:.1f} kB vs {small / 1024:.1f} kB ({ratio:.2f}x)"
    row("bytes written per turn, 1,000 vs 10 exchanges", value, "≤ 2x", ratio <= 2)


def bench_overhead(work: Path, samples: int, rounds: int) -> None:
    with server() as offline:
        url = offline.url
        store = store_with(work / "turn", 1000)
        session = Session(NbStream(base_url=url, model="nbstream-demo"), store)
        options = TurnOptions(params=ONE_TOKEN, stream=True)
        show = driver(NullSurface())
        session.chat("bench", options, show, cell_id="bench")
        history = store.messages("default", "bench", cell_id="bench")
        # The very body nbstream sends (usage asked for): the server's work is the same.
        body = chat_kwargs(ChatRequest(history, "nbstream-demo", dict(ONE_TOKEN), True), True)
        client = openai.OpenAI(base_url=url, api_key="k")

        def raw() -> None:
            for _ in client.chat.completions.create(**body):
                pass

        ratios, medians = [], []
        for _ in range(rounds):
            ours, theirs = [], []
            for _ in range(samples):
                theirs.append(timed(raw))
                ours.append(timed(lambda: session.chat("bench", options, show, cell_id="bench")))
            medians.append((statistics.median(ours), statistics.median(theirs)))
            ratios.append(medians[-1][0] / medians[-1][1])
    ratio = statistics.median(ratios)
    side = ", ".join(f"{a * 1000:.0f}/{b * 1000:.0f} ms {a / b:.2f}x" for a, b in medians)
    value = f"median {ratio:.2f}x of {rounds} rounds ({side})"
    row("turn at 1,000 exchanges vs the raw SDK request", value, "≤ 1.1x", ratio <= 1.1)


def store_turn_ms(folder: Path, exchanges: int, turns: int = 50) -> tuple[float, float]:
    """Median ms of the store's writes and checks in a turn (append, pick up another kernel's
    exchange, 'not saved' check), and of building the history sent (linear by nature)."""
    store = store_with(folder, exchanges)
    other = ConversationStore.open(folder / "conversations.sqlite", notebook="nb.ipynb")
    ops, history = [], []
    for n in range(turns):
        other.record("default", f"other {n}", ChatResult(text="x"))  # picked up below
        ops.append(timed(lambda n=n: store.record("default", f"q {n}", ChatResult(text="a"))))
        ops[-1] += timed(store.unsaved_problem)
        history.append(timed(lambda n=n: store.messages("default", f"q {n}")))
    return statistics.median(ops) * 1000, statistics.median(history) * 1000


def bench_store_turn(work: Path) -> None:
    (small, small_history), (large, large_history) = (
        store_turn_ms(work / "s10", 10),
        store_turn_ms(work / "s1000", 1000),
    )
    value = f"{large:.2f} ms vs {small:.2f} ms ({large / small:.2f}x)"
    measure = "store writes and checks per turn, 1,000 vs 10 exchanges"
    row(measure, value, "≤ 2x", large / small <= 2)
    print(f"  history built per turn: {large_history:.2f} ms vs {small_history:.2f} ms", flush=True)


def bench_restore(work: Path) -> None:
    store_with(work / "restore", 1000)
    state = work / "restore" / "conversations.sqlite"
    took = statistics.median(
        timed(lambda: ConversationStore.open(state, notebook="nb.ipynb")) for _ in range(5)
    )
    row("restore 1,000 exchanges", f"{took * 1000:.0f} ms", "≤ 100 ms", took <= 0.1)


def bench_threads(work: Path) -> None:
    store = ConversationStore.open(work / "threads" / "conversations.sqlite", notebook="nb.ipynb")
    took = timed(lambda: [store.record(f"t{n}", "q", ChatResult(text="a")) for n in range(10_000)])
    row("create 10,000 threads", f"{took:.1f} s", "≤ 10 s", took <= 10)


def bench_cache(work: Path, samples: int) -> None:
    cache = ResponseCache(work / "cache" / "cache.sqlite")
    cache.check()
    filler = [
        (f"{n:064x}", 0.0, "m", "h", "p", "{}", '{"text": "' + "x" * 400 + '"}')
        for n in range(100_000)
    ]
    with contextlib.closing(sqlite3.connect(cache.path)) as db, db:
        db.executemany("INSERT INTO replies VALUES (?, ?, ?, ?, ?, ?, ?)", filler)
    cache = ResponseCache(cache.path)  # a fresh kernel: its first write checks the pages
    cache.put(CacheRequest("h", "m", [{"role": "user", "content": "first"}], {}), ChatResult())
    asks = [
        CacheRequest("h", "m", [{"role": "user", "content": f"q{n}"}], {}) for n in range(samples)
    ]
    took = statistics.median(timed(lambda a=a: cache.put(a, ChatResult("a"))) for a in asks)
    row("cache put at 100,000 entries", f"{took * 1000:.2f} ms", "≤ 2 ms", took <= 0.002)


def rows(work: Path, quick: bool) -> dict[str, Callable[[], None]]:
    """Each row by name, measured in `work`."""
    return {
        "bytes": lambda: bench_bytes(work),
        "overhead": lambda: bench_overhead(work, 5 if quick else 15, 3 if quick else 5),
        "store": lambda: bench_store_turn(work),
        "restore": lambda: bench_restore(work),
        "threads": lambda: bench_threads(work),
        "cache": lambda: bench_cache(work, 20 if quick else 50),
    }


if __name__ == "__main__":
    run_rows(__doc__ or "", "fewer samples", rows, REPORT)
