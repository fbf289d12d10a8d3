"""What the benchmarks share: the offline server in a child process, the ✓/✗ table with the
date and the machine's load, medians.

Every benchmark prints its table with `report(...)`: the date, `uptime`'s load average before
and after, the machine, and for each row the median of ≥ 3 runs and its target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class Server:
    """The offline server in its own process (`_server.py`), its request log mirrored here."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(HERE / "_server.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._process.stdout is not None
        self.url: str = json.loads(self._process.stdout.readline())["url"]
        self.records: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, name="server-log", daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            event = json.loads(line)
            with self._changed:
                if "started" in event:
                    self.records.append({"outcome": "pending"})
                self.records[event.pop("i")].update(event)
                self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        """Wait until `predicate(records)` holds; TimeoutError after `timeout` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.records), timeout):
                raise TimeoutError(f"the server's log did not get there in {timeout} s")

    def done(self) -> int:
        """How many requests have ended."""
        with self._changed:
            return sum(r["outcome"] != "pending" for r in self.records)

    def stop(self) -> None:
        """Close its stdin (it exits) and wait."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """The offline server in a child process, stopped on the way out."""
    started = Server()
    try:
        yield started
    finally:
        started.stop()


def kernel_env(url: str) -> dict[str, str]:
    """This environment without model settings, pointed at the offline server at `url`."""
    ours = ("OPENAI_", "AZURE_OPENAI_", "NBSTREAM_", "JPY_SESSION_NAME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench", NBSTREAM_MODEL="nbstream-demo")
    return env


def chat_cell(options: dict[str, Any], prompt: str = "bench") -> str:
    """A `%%chat` cell asking the offline server for `options` (`tokens`, `rate`, `text`...)."""
    return f"%%chat --new -p nbstream='{json.dumps(options)}'\n{prompt}"


def median(values: list[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"


def kb(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


@dataclass
class Row:
    """One line of a benchmark's table: what, nbstream's figure, what it is compared with."""

    measure: str
    nbstream: str
    baseline: str
    target: str
    met: bool | None  # None: informational


class Report:
    """Collects rows, then prints the ✓/✗ table with the date, the load and the machine."""

    def __init__(self, title: str) -> None:
        self.title, self.rows = title, []
        self._started, self._load = time.monotonic(), load_average()

    def add(self, measure: str, nbstream: str, baseline: str, target: str, met: bool | None):
        self.rows.append(Row(measure, nbstream, baseline, target, met))

    def print(self) -> None:
        mark = {True: "✓", False: "✗", None: ""}
        print(f"\n{self.title}: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"load average before {self._load}, after {load_average()}; "
              f"took {time.monotonic() - self._started:.0f} s\n{machine()}\n")  # fmt: skip
        print("| measure | nbstream | baseline | target | |\n|---|---|---|---|---|")
        for r in self.rows:
            print(f"| {r.measure} | {r.nbstream} | {r.baseline} | {r.target} | {mark[r.met]} |")


def load_average() -> str:
    """`uptime`'s three load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    import openai

    return (f"{len(os.sched_getaffinity(0))} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, openai {openai.__version__}")  # fmt: skip


def run_rows(
    doc: str,
    quick_help: str,
    rows: Callable[[Path, bool], dict[str, Callable[[], None]]],
    report: Report,
) -> None:
    """A benchmark script's main: `--quick` and `--only NAME...` parsed, the chosen rows run
    in a temporary folder (`rows(folder, quick)` names them), then the report printed."""
    names = tuple(rows(Path(), False))
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--only", nargs="+", choices=names, default=names, help="these rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        chosen = rows(Path(temp), args.quick)
        for name in args.only:
            chosen[name]()
    report.print()
