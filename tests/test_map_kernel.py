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
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import HANG, SECRET_KEY, eventually
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


def asked(records) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in records]


def outcomes(records, prompt: str) -> set[str]:
    return {r.outcome for r in records if r.body["messages"][-1]["content"] == prompt}


#: Thirty items asked three at a time, each echoed back (`echo`) at 20 tokens a second: items
#: 4 to 6 are 401 tokens (20 s), the others 2 (0.1 s).
LONG = range(4, 7)
ITEMS = (
    f"items = [f'item {{i}}' for i in range(30)]\nfor i in {LONG!r}: items[i] += ' and so on' * 133"
)
THREE_AT_A_TIME = (
    "out = nbstream.map(items, '{item}', concurrency=3, nbstream={'echo': True, 'rate': 20})"
)


def test_an_interrupted_map_run_again_asks_only_for_what_it_had_not_finished(kernel, log) -> None:
    items = [f"item {i}" for i in range(30)]
    for i in LONG:
        items[i] += " and so on" * 133
    kernel.execute(ITEMS)
    msg_id = kernel.start(THREE_AT_A_TIME)
    # An item starts only once an earlier one is written and its slot freed: when the three
    # long items are all asked, the record holds items 0 to 3, and nothing more is written
    # before the interrupt, which lands while all three stream (however busy the machine).
    long_items = [items[i] for i in LONG]
    assert log.wait_for(lambda records: set(long_items) <= set(asked(records)), HANG)
    kernel.manager.interrupt_kernel()
    first = kernel.collect(msg_id, timeout=HANG)
    assert first.error["ename"] == "KeyboardInterrupt"
    for item in long_items:  # all three in flight were cut short
        assert log.wait_for(
            lambda records, it=item: outcomes(records, it) == {"disconnected"}, HANG
        )
    assert kernel.execute("1 + 1").reply["status"] == "ok"  # the next cell works
    # The kernel's folder also records the other tests' runs: only this one's items count.
    assert recorded_prompts(kernel.cwd) & set(items) == set(items[:4])
    log.clear()
    again = kernel.execute(THREE_AT_A_TIME, timeout=120)
    assert again.reply["status"] == "ok", again.error
    # A set: on a busy machine the engine may retry a connection, asking for an item twice.
    assert set(asked(log.records)) == set(items[4:])
    assert "30/30 done · 4 from the record" in again.final["data"]["text/plain"]


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
        assert eventually(lambda: len(recorded_prompts(tmp_path)) >= 10)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(HANG)
    time.sleep(0.2)  # the killed process's connections close; their records end
    kept = recorded_prompts(tmp_path)
    assert 10 <= len(kept) < 40
    log.clear()
    subprocess.run(run, cwd=tmp_path, env=env, check=True, timeout=120)
    again = set(asked(log.records))
    assert again.isdisjoint(kept) and len(again) == 40 - len(kept)
    assert len(recorded_prompts(tmp_path)) == 40
