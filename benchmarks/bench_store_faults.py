"""The conversation store under the faults of issue 11: kill -9 at random moments, two kernels
on one notebook, a full disk.

Usage (from the repository root, in the project's virtualenv, as root for the full-disk row):

    python benchmarks/bench_store_faults.py            # every row, 200 kills
    python benchmarks/bench_store_faults.py --quick    # 20 kills
    python benchmarks/bench_store_faults.py --only kernels

A writer process records turns and says which it saved; it is killed at random moments, and
what it said saved must be there, readable, with no stray file. Kernels are real IPython kernels
on one notebook, against the offline server in its own process. Benchmarks, not tests: nothing
asserts; each row states its target and ✓ or ✗, and the table says the load before and after.
"""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from jupyter_client.manager import KernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _harness import Report, kernel_env, run_rows, server

from nbstream.store.threads import ConversationStore
from tests.test_store_crash import WRITER  # the crash test's writer, killed here 200 times
from tests.test_store_faults import fill

REPORT = Report("conversation store under faults")
SQLITE_FILES = {"conversations.sqlite", "conversations.sqlite-wal", "conversations.sqlite-shm"}


def row(measure: str, value: str, target: str, ok: bool) -> None:
    REPORT.add(measure, value, "", target, ok)
    print(f"{'✓' if ok else '✗'} {measure}: {value} (target {target})", flush=True)


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
        env = kernel_env(url)
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
    with server() as offline:
        kernels = [Kernel(folder, offline.url), Kernel(folder, offline.url)]
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
        with server() as offline:
            kernel = Kernel(disk, offline.url)
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
    filler = fill(disk)
    said = sum("not saved" in kernel.run(f"%%chat\nturn {n}") for n in range(10))
    filler.unlink()
    kernel.run("%%chat\nafter")
    return said


def rows(work: Path, quick: bool) -> dict[str, Callable[[], None]]:
    """Each row by name, measured in `work`."""
    return {
        "kills": lambda: bench_kills(work, 20 if quick else 200),
        "kernels": lambda: bench_two_kernels(work),
        "disk": lambda: bench_full_disk(work),
    }


if __name__ == "__main__":
    run_rows(__doc__ or "", "20 kills", rows, REPORT)
