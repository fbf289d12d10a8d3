"""kill -9 of a process in the middle of saving: nothing it was told is saved is lost."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from nbstream.store.threads import ConversationStore

from .conftest import HANG

#: Appends turns forever, printing each one's number once `record` has returned saved.
WRITER = """
import sys
from pathlib import Path
from nbstream.engine.result import ChatResult
from nbstream.store.records import warm
from nbstream.store.threads import ConversationStore

store = ConversationStore.open(Path(sys.argv[1]), notebook="nb.ipynb")
n = int(sys.argv[2])
warm()  # the validators are built on first use: not inside the window the kill aims at
print("ready", flush=True)
while True:
    store.record("default", f"q{n}", ChatResult(text="a" * (n % 5000)))
    if store.unsaved == 0:
        print(n, flush=True)
    n += 1
"""
ALLOWED = {"conversations.sqlite", "conversations.sqlite-wal", "conversations.sqlite-shm"}


def run_and_kill(state: Path, start: int, delay: float) -> list[int]:
    """Start a writer, kill -9 it `delay` s after it is ready; the turns it said were saved."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(state), str(start)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(delay)
    writer.send_signal(signal.SIGKILL)
    out, _ = writer.communicate()
    return [int(line) for line in out.split()]


def test_kill_9_mid_save_loses_no_saved_turn_and_leaves_no_stray_file(tmp_path: Path) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    chance = random.Random(11)
    acknowledged: list[int] = []
    start = 0

    def kill_a_writer() -> None:
        nonlocal start
        said = run_and_kill(state, start, chance.uniform(0.0, 0.3))
        acknowledged.extend(said)
        start = (said[-1] if said else start) + 100_000
        assert set(p.name for p in state.parent.iterdir()) <= ALLOWED

    for _ in range(8):
        kill_a_writer()
    # How many turns a writer saves before its kill depends on the machine's load: more
    # writers, until over eight turns were acknowledged, so that kills landed among saves.
    give_up = time.monotonic() + HANG
    while len(acknowledged) <= 8:
        assert time.monotonic() < give_up, f"only {len(acknowledged)} turns were acknowledged"
        kill_a_writer()
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = ConversationStore.open(state, notebook="nb.ipynb")
    assert store.warnings == []
    kept = [int(ex.user[1:]) for ex in store.thread().exchanges]
    assert [n for n in kept if n in set(acknowledged)] == acknowledged
