"""`nbstream.map` and a large `gather` in real kernels and processes: the display stays small
and rare at any n, and a run killed or interrupted midway is continued without asking again
for any item it had finished (FAULTS 42)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

pytestmark = pytest.mark.kernel

#: The largest display message the progress view may send, and a large gather's (issue 15).
MAP_MESSAGE, GATHER_MESSAGE = 50_000, 100_000


@pytest.fixture(scope="module")
def kernel(server, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("map"))
    started.execute("import nbstream")
    yield started
    started.shutdown()


def display_sizes(run) -> list[int]:
    return [len(json.dumps(c["data"])) for c in run.of("display_data", "update_display_data")]


def test_map_of_a_thousand_items_sends_few_small_messages(kernel) -> None:
    run = kernel.execute(
        "out = nbstream.map([f'row {i}' for i in range(1000)], 'Label {item}', concurrency=64, "
        "nbstream={'tokens': 20, 'rate': 0})",
        timeout=600,
    )
    assert run.reply["status"] == "ok", run.error
    sizes = display_sizes(run)
    assert sizes and max(sizes) <= MAP_MESSAGE
    assert len(sizes) <= 2 * run.span + 2  # MAX_RATE a second, and the final drawing
    assert "1000/1000 done" in run.final["data"]["text/plain"]


def test_a_large_gather_is_one_bounded_progress_view(kernel) -> None:
    run = kernel.execute(
        "rs = nbstream.gather([f'q{i}' for i in range(1000)], concurrency=64, "
        "params={'nbstream': {'tokens': 10, 'rate': 0}})",
        timeout=600,
    )
    assert run.reply["status"] == "ok", run.error
    sizes = display_sizes(run)
    assert sizes and max(sizes) <= GATHER_MESSAGE
    assert "1000/1000 done" in run.final["data"]["text/plain"]


def wait_until(holds: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + HANG
    while not holds():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def requested(log) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in log.records]


def test_an_interrupted_map_run_again_asks_only_for_what_it_had_not_finished(kernel, log) -> None:
    cell = ("out = nbstream.map([f'item {i}' for i in range(30)], '{item}' + ' and so on' * 8, "
            "concurrency=3, nbstream={'echo': True, 'rate': 40})")  # fmt: skip
    msg_id = kernel.start(cell)
    # The kernel's folder also records the other tests' runs: only this one's items count.
    items = {f"item {i}" + " and so on" * 8 for i in range(30)}
    assert wait_until(lambda: len(recorded_prompts(kernel.cwd) & items) >= 4)
    kernel.manager.interrupt_kernel()
    first = kernel.collect(msg_id, timeout=HANG)
    assert first.error["ename"] == "KeyboardInterrupt"
    assert kernel.execute("1 + 1").reply["status"] == "ok"  # the next cell works
    kept = recorded_prompts(kernel.cwd) & items
    finished = len(kept)
    assert 4 <= finished < 30
    log.clear()
    again = kernel.execute(cell, timeout=120)
    assert again.reply["status"] == "ok", again.error
    # Sets: on a busy machine the engine may retry a connection, asking for an item twice.
    again_asked = set(requested(log))
    assert again_asked.isdisjoint(kept) and len(again_asked) == 30 - finished
    assert f"30/30 done · {finished} from the record" in again.final["data"]["text/plain"]


SCRIPT = """
import nbstream
out = nbstream.map([f"item {i}" for i in range(40)], "{item}" + " and so on" * 8, concurrency=4,
                   nbstream={"echo": True, "rate": 40})
"""


def recorded_prompts(folder: Path) -> set[str]:
    """The prompts of the items the run record holds (each reply echoes its prompt)."""
    path = folder / ".nbstream" / "runs.sqlite"
    if not path.exists():
        return set()
    with contextlib.closing(sqlite3.connect(path)) as db:
        try:
            texts = [json.loads(row[0])["text"] for row in db.execute("SELECT result FROM items")]
        except sqlite3.OperationalError:  # the run has not made its table yet
            return set()
    return set(texts)


def test_a_process_killed_midway_then_run_again_requests_no_finished_item(
    server, log, tmp_path
) -> None:
    env = clean_env(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY,
                    NBSTREAM_MODEL="nbstream-demo")  # fmt: skip
    run = [sys.executable, "-c", SCRIPT]
    first = subprocess.Popen(run, cwd=tmp_path, env=env)
    try:
        assert wait_until(lambda: len(recorded_prompts(tmp_path)) >= 10)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(HANG)
    time.sleep(0.2)  # the killed process's connections close; their records end
    kept = recorded_prompts(tmp_path)
    assert 10 <= len(kept) < 40
    log.clear()
    subprocess.run(run, cwd=tmp_path, env=env, check=True, timeout=120)
    again = set(requested(log))
    assert again.isdisjoint(kept) and len(again) == 40 - len(kept)
    assert len(recorded_prompts(tmp_path)) == 40
