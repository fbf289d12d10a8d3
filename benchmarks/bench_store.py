"""The conversation store against issue 11's targets.

Usage (from the repository root, in the project's virtualenv, as root for the full-disk row):

    python benchmarks/bench_store.py            # every row, 200 kills
    python benchmarks/bench_store.py --quick    # 20 kills, fewer samples
    python benchmarks/bench_store.py --only overhead store

Bytes written are this process's write() bytes (/proc/self/io `wchar`) per turn, averaged over
50 turns. The turn overhead compares a 1-token reply through `Session.chat` (a re-run cell, so
the history stays 1,000 exchanges) with the raw SDK request sending the same body (history and
`stream_options`), against the offline server in its own process: interleaved, the median of
each round, and the median ratio of the rounds. The store's own work per turn (append, pick up
another kernel's exchange, the 'not saved' check) is timed apart at 10 and 1,000 exchanges.
Kernels are real IPython kernels. `--only overhead store` runs some rows; `uptime` is printed
before and after. Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
from jupyter_client.manager import KernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
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

ROWS: list[tuple[str, str, str, bool]] = []
SQLITE_FILES = {"conversations.sqlite", "conversations.sqlite-wal", "conversations.sqlite-shm"}
ONE_TOKEN = {"nbstream": {"text": "ok", "rate": 0}}
WRITER = """
import sys
from pathlib import Path
from nbstream.engine.result import ChatResult
from nbstream.store.threads import ConversationStore
store = ConversationStore.open(Path(sys.argv[1]), notebook="nb.ipynb")
n = int(sys.argv[2])
print("ready", flush=True)
while True:
    store.record("default", f"q{n}", ChatResult(text="a" * (n % 3000)))
    if store.unsaved == 0:
        print(n, flush=True)
    n += 1
"""


def row(measure: str, value: str, target: str, ok: bool) -> None:
    ROWS.append((measure, value, target, ok))
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


@contextlib.contextmanager
def offline_server() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "nbstream.cli", "serve", "--rate", "0", "--first-token-delay", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = re.search(r"(http://\S+)", server.stdout.readline()).group(1)  # type: ignore[union-attr]
    try:
        yield url
    finally:
        server.terminate()
        server.wait()


def bench_overhead(work: Path, samples: int, rounds: int) -> None:
    with offline_server() as url:
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


def bench_kills(work: Path, kills: int) -> None:
    state, chance = work / "kill" / "conversations.sqlite", random.Random(7)
    acknowledged, start, stray = [], 0, set()
    for _ in range(kills):
        command = [sys.executable, "-c", WRITER, str(state), str(start)]
        writer = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(chance.uniform(0, 0.15))
        writer.send_signal(signal.SIGKILL)
        said = [int(line) for line in writer.communicate()[0].split()]
        acknowledged += said
        start = (said[-1] if said else start) + 1_000_000
        stray |= {p.name for p in state.parent.iterdir()} - SQLITE_FILES
    with contextlib.closing(sqlite3.connect(state)) as db:
        unreadable = int(db.execute("PRAGMA integrity_check").fetchone()[0] != "ok")
    store = ConversationStore.open(state, notebook="nb.ipynb")
    kept = {int(ex.user[1:]) for ex in store.thread().exchanges}
    lost = len(set(acknowledged) - kept)
    unreadable += bool(store.warnings)
    measure = f"kill -9 at random moments, {kills} times ({len(acknowledged)} turns said saved)"
    value = f"{lost} lost, {unreadable} unreadable, {len(stray)} stray files"
    row(measure, value, "0, 0, 0", not (lost or unreadable or stray))


class Kernel:
    """A real kernel with nbstream loaded on notebook `folder/nb.ipynb`."""

    def __init__(self, folder: Path, url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NBSTREAM_"))}
        env.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="k", NBSTREAM_MODEL="nbstream-demo")
        env["JPY_SESSION_NAME"] = str(folder / "nb.ipynb")
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(folder))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.run("%load_ext nbstream")

    def run(self, code: str) -> str:
        """Execute `code`; everything it printed (stdout and stderr)."""
        out: list[str] = []

        def hook(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])

        self.client.execute_interactive(code, output_hook=hook, timeout=120)
        return "".join(out)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def count_saved(folder: Path) -> int:
    state = folder / ".nbstream" / "conversations.sqlite"
    store = ConversationStore.open(state, notebook="nb.ipynb")
    return sum(len(store.thread(name).exchanges) for name in store.threads())


def bench_two_kernels(work: Path) -> None:
    folder = work / "kernels"
    folder.mkdir()
    with offline_server() as url:
        kernels = [Kernel(folder, url), Kernel(folder, url)]
        try:
            for n in range(50):
                for k, kernel in enumerate(kernels):
                    thread = "shared" if n % 2 else f"own{k}"
                    kernel.run(f"%%chat -t {thread} -p nbstream='{{\"rate\": 0}}'\nk{k} turn {n}")
        finally:
            for kernel in kernels:
                kernel.close()
    kept = count_saved(folder)
    measure = "two kernels x 50 interleaved turns, shared and separate threads"
    row(measure, f"{kept} of 100 kept", "100 of 100", kept == 100)


def bench_full_disk(work: Path) -> None:
    disk = work / "disk"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)])
    if mount.returncode:
        row("full disk, 10 turns", "could not mount a tmpfs (run as root)", "10 of 10", False)
        return
    try:
        with offline_server() as url:
            kernel = Kernel(disk, url)
            try:
                said = _turns_on_a_full_disk(kernel, disk)
            finally:
                kernel.close()
        saved = count_saved(disk) - 2  # the turns before and after
    finally:
        subprocess.run(["umount", "-l", str(disk)])
    value = f"{said} of 10 say 'not saved'; {saved} of 10 saved once space is back"
    row("full disk, 10 turns", value, "10 of 10; 10 of 10", said == 10 and saved == 10)


def _turns_on_a_full_disk(kernel: Kernel, disk: Path) -> int:
    kernel.run("%%chat\nbefore")
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        for chunk in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * chunk)
    said = sum("not saved" in kernel.run(f"%%chat\nturn {n}") for n in range(10))
    filler.unlink()
    kernel.run("%%chat\nafter")
    return said


BENCHES = ("bytes", "overhead", "store", "restore", "threads", "cache", "kills", "kernels", "disk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 kills, fewer samples")
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=BENCHES, help="these rows")
    args = parser.parse_args()
    print(f"before: {uptime()}", flush=True)
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        quick = args.quick
        benches: dict[str, Callable[[], None]] = {
            "bytes": lambda: bench_bytes(work),
            "overhead": lambda: bench_overhead(work, 5 if quick else 15, 3 if quick else 5),
            "store": lambda: bench_store_turn(work),
            "restore": lambda: bench_restore(work),
            "threads": lambda: bench_threads(work),
            "cache": lambda: bench_cache(work, 20 if quick else 50),
            "kills": lambda: bench_kills(work, 20 if quick else 200),
            "kernels": lambda: bench_two_kernels(work),
            "disk": lambda: bench_full_disk(work),
        }
        for name in args.only:
            benches[name]()
    print(f"\nafter: {uptime()} on {os.cpu_count()} cores (timings grow with load)")
    print("| measure | measured | target | |\n|---|---|---|---|")
    for measure, value, target, ok in ROWS:
        print(f"| {measure} | {value} | {target} | {'✓' if ok else '✗'} |")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
