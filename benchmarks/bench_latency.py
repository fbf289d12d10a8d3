"""Latency benchmarks: the seconds the test suite no longer asserts, each against its target.

Usage (from the repository root, in the project's virtualenv):

    python benchmarks/bench_latency.py            # 5 runs of each, about a minute
    python benchmarks/bench_latency.py --runs 9

The tests assert outcomes and order (the server saw the disconnect, the kernel went idle, the
partial reply was kept); how quickly those happen is measured here, on the real offline server,
the real SDK and a real IPython kernel. Each row is the median of `--runs` (the worst run beside
it): on 2 shared cores other work moves single runs, so read a ✗ together with the machine's load.

Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import _thread
import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from _harness import load_average, machine
from jupyter_client.manager import KernelManager

import nbstream
from nbstream.engine import loop
from nbstream.engine.result import ChatResult, Timings, Usage
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import NbStreamError
from nbstream.offline.server import OfflineServer, RequestLog
from nbstream.session import Session
from nbstream.settings import NbStream, Settings, resolve
from nbstream.store.cache import Entry
from nbstream.store.replay import ReplayStream

KEY = "sk-bench"
HELLO = [{"role": "user", "content": "Hello"}]


@dataclass
class Row:
    measure: str
    target: str
    seconds: list[float]
    met: Callable[[float], bool]

    def line(self) -> str:
        median, worst = statistics.median(self.seconds), max(self.seconds)
        mark = "✓" if self.met(median) else "✗"
        return f"| {self.measure} | {median:.3f} s | {worst:.3f} s | {self.target} | {mark} |"


def wait(log: RequestLog, predicate: Callable[[list[Any]], bool]) -> None:
    if not log.wait_for(predicate, 60):
        raise TimeoutError("the server never saw what the benchmark waits for")


def settings_for(server: OfflineServer, **changes: Any) -> Settings:
    return resolve(base_url=server.url, api_key=KEY, model="nbstream-demo", environ={}, **changes)


def stream_for(settings: Settings, model: str = "nbstream-demo", **options: Any) -> ChatStream:
    return ChatStream(ChatRequest(HELLO, model, {"nbstream": options}), settings)


# ----------------------------------------------------------------------------- in this process


def cancel_to_disconnect(server: OfflineServer, least: int, **options: Any) -> float:
    """Cancel a stream on nbstream's loop once `least` chunks went out; seconds until the
    server sees the disconnect."""
    server.log.clear()
    stream = stream_for(settings_for(server), **options)
    job = loop.submit(stream.run())
    wait(server.log, lambda r: bool(r) and r[-1].chunks_sent >= least)
    cancelled = time.monotonic()
    job.cancel()
    wait(server.log, lambda r: r[-1].outcome == "disconnected")
    return (server.log.records[-1].ended or 0.0) - cancelled


def timed(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    with contextlib.suppress(NbStreamError):  # the failure is what is timed
        call()
    return time.monotonic() - started


def unpaced_5000(server: OfflineServer) -> float:
    client = openai.OpenAI(base_url=server.url, api_key=KEY)
    body = {"nbstream": {"tokens": 5000}}
    chunks = client.chat.completions.create(
        model="nbstream-demo", messages=HELLO, stream=True, extra_body=body
    )
    return timed(lambda: sum(1 for _ in chunks))


def retry_gap(server: OfflineServer, run: int) -> float:
    server.log.clear()
    options = {"fail_status": 429, "retry_after": "1", "key": f"gap{run}", "text": "ok"}
    loop.run(stream_for(settings_for(server), **options).run())
    first, second = server.log.records
    return second.started - first.started


def gather_interrupt(server: OfflineServer, cache: Path) -> float:
    """Interrupt the main thread in `gather`; seconds until KeyboardInterrupt reaches it."""
    os.environ["OPENAI_API_KEY"] = KEY
    session = Session(NbStream(base_url=server.url, model="nbstream-demo"), cache=cache)
    server.log.clear()
    at: list[float] = []

    def interrupt() -> None:
        wait(server.log, lambda r: len(r) == 4 and all(x.chunks_sent > 3 for x in r))
        at.append(time.monotonic())
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        nbstream.gather(["a", "b", "c", "d"], session=session, params={"nbstream": {"rate": 20}})
    except KeyboardInterrupt:
        return time.monotonic() - at[0]
    return float("nan")


def replay_recorded(_: OfflineServer) -> float:
    text = " ".join(f"w{i}" for i in range(40))
    timings = Timings(started_at=0.0, first_token=0.2, last_token=0.5, total=0.6)
    recorded = ChatResult(text=text, model="m", usage=Usage(1, 40, 41), timings=timings)
    return timed(lambda: asyncio.run(ReplayStream(Entry("k", 0.0, recorded), "recorded").run()))


# ----------------------------------------------------------------------------- in a kernel


class Kernel:
    def __init__(self, server: OfflineServer, cwd: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NBSTREAM_"))}
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY, NBSTREAM_MODEL="nbstream-demo")
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=cwd)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.idle("%load_ext nbstream\nimport nbstream")

    def idle(self, code: str) -> float:
        """Run `code`; the monotonic time its idle status arrived."""
        msg_id = self.client.execute(code)
        while True:
            msg = self.client.get_iopub_msg(timeout=60)
            content, parent = msg["content"], msg["parent_header"].get("msg_id")
            if parent == msg_id and content.get("execution_state") == "idle":
                return time.monotonic()

    def interrupt_to_idle(self, server: OfflineServer, code: str, streams: int) -> float:
        server.log.clear()
        done: list[float] = []
        worker = threading.Thread(target=lambda: done.append(self.idle(code)))
        worker.start()
        wait(server.log, lambda r: len(r) == streams and all(x.chunks_sent > 3 for x in r))
        interrupted = time.monotonic()
        self.manager.interrupt_kernel()
        worker.join()
        return done[0] - interrupted

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def kernel_rows(server: OfflineServer, runs: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as cwd:
        kernel = Kernel(server, cwd)
        try:
            cell = '%%chat --no-history -p nbstream=\'{"tokens": 1000, "rate": 20}\'\nlong'
            many = "nbstream.gather(list('abcde'), params={'nbstream': {'rate': 20}})"
            chat = [kernel.interrupt_to_idle(server, cell, 1) for _ in range(runs)]
            gather = [kernel.interrupt_to_idle(server, many, 5) for _ in range(runs)]
        finally:
            kernel.shutdown()
    return [
        Row("%%chat: interrupt → kernel idle", "< 0.5 s", chat, lambda s: s < 0.5),
        Row("gather in a kernel: interrupt → idle", "< 0.5 s", gather, lambda s: s < 0.5),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    fast = lambda s: s < 0.5  # noqa: E731
    with OfflineServer(rate=0, faults=True) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        quick = settings_for(server, idle_timeout=0.5, max_retries=0)
        huge = {"fail_status": 429, "retry_after": "86400"}
        measures: list[tuple[str, str, Callable[[int], float], Callable[[float], bool]]] = [
            ("engine: cancel mid-stream → server sees disconnect", "< 0.5 s",
             lambda i: cancel_to_disconnect(server, 4, tokens=1000, rate=20), fast),
            ("engine: cancel before first token → disconnect", "< 0.5 s",
             lambda i: cancel_to_disconnect(server, 0, first_token_delay=30), fast),
            ("5,000 tokens unpaced through the SDK", "< 2 s",
             lambda i: unpaced_5000(server), lambda s: s < 2),
            ("429 with Retry-After 1 s: gap between requests", "0.9 to 2 s",
             lambda i: retry_gap(server, i), lambda s: 0.9 < s < 2),
            ("Retry-After 86400 s: fails stating the wait", "< 2 s",
             lambda i: timed(lambda: loop.run(stream_for(
                 settings_for(server), key=f"huge{i}", **huge).run())), lambda s: s < 2),
            ("a stall past a 0.5 s idle timeout fails", "< 3 s",
             lambda i: timed(lambda: loop.run(stream_for(quick, "fault-stall", tokens=2).run())),
             lambda s: s < 3),
            ("gather: interrupt → KeyboardInterrupt", "< 1.5 s",
             lambda i: gather_interrupt(server, folder / "cache.sqlite"), lambda s: s < 1.5),
            ("replay at the recorded pace (last token at 0.5 s)", "0.45 to 1.0 s",
             lambda i: replay_recorded(server), lambda s: 0.45 <= s < 1.0),
        ]  # fmt: skip
        rows = [Row(name, target, [measure(i) for i in range(runs)], met)
                for name, target, measure, met in measures]  # fmt: skip
        rows += kernel_rows(server, runs)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\nbench_latency: {when}, load average {load_average()}; {runs} runs each, median "
          f"and worst\n{machine()}\n")  # fmt: skip
    print("| measure | median | worst | target | |\n|---|---|---|---|---|")
    print("\n".join(row.line() for row in rows))


if __name__ == "__main__":
    main()
