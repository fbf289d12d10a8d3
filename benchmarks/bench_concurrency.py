"""Concurrent streams: 50 replies at once in one kernel, against one alone.

Usage (from the repository root, in the project's virtualenv):

    python benchmarks/bench_concurrency.py           # 50 streams of 1,000 tokens at 100 tokens/s
    python benchmarks/bench_concurrency.py --quick   # 20 streams of 300 tokens

The offline server runs in this process; the kernel gets its URL through OPENAI_BASE_URL.
One stream alone (`nbstream.chat`) gives the baseline wall time. Then, in the same kernel,
`asyncio.ensure_future(nbstream.agather(prompts, concurrency=N))` starts all streams at once and
the cell returns; while they run, a probe cell (`21 * 2`) is executed every 0.5 s and its round
trip timed; `await task` in a last cell waits for the end. Wall time runs from sending the
starting cell until the last stream's final grid update. IOPub output messages (display_data,
update_display_data, stream, execute_result, error) are counted on this side over the whole run,
excluding the probes' own replies; the peak is the most in any 1 s window.

Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from jupyter_client.manager import KernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nbstream.offline.server import OfflineServer

OUTPUTS = {"display_data", "update_display_data", "stream", "execute_result", "error"}


class Kernel:
    """A kernel with a blocking client that records every IOPub output message's time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, extra_arguments=["--IPKernelApp.log_level=ERROR"])
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.outputs: list[tuple[float, str, str]] = []  # (time, parent msg_id, type)

    def run(self, code: str, timeout: float = 300) -> tuple[str, float]:
        """Execute and wait for idle; returns the msg_id and the round trip in seconds."""
        sent = time.monotonic()
        msg_id = self.client.execute(code)
        self.drain(until_idle=msg_id, timeout=timeout)
        return msg_id, time.monotonic() - sent

    def drain(self, until_idle: str | None = None, timeout: float = 0.0) -> None:
        """Read IOPub until `until_idle` goes idle (or for `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 and until_idle is None:
                return
            try:
                msg = self.client.get_iopub_msg(timeout=max(left, 0.05))
            except Exception:  # queue.Empty from jupyter_client
                if until_idle is None or left <= 0:
                    return
                continue
            parent = msg["parent_header"].get("msg_id", "")
            kind = msg["msg_type"]
            if kind in OUTPUTS:
                self.outputs.append((time.monotonic(), parent, kind))
            if (
                kind == "status"
                and parent == until_idle
                and (msg["content"]["execution_state"] == "idle")
            ):
                return

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def peak_per_second(times: list[float]) -> int:
    """The most events in any 1 s window."""
    times = sorted(times)
    return max((sum(t <= u < t + 1 for u in times) for t in times), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    if args.quick:
        args.streams, args.tokens = 20, 300
    options = f"{{'nbstream': {{'tokens': {args.tokens}, 'rate': {args.rate}}}}}"

    server = OfflineServer(rate=0).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NBSTREAM_"))}
    env.update(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-bench", NBSTREAM_MODEL="nbstream-demo"
    )
    kernel = Kernel(env)
    try:
        kernel.run("import asyncio, nbstream")
        _, one = kernel.run(f"nbstream.chat('one alone', no_history=True, params={options})")

        start = time.monotonic()
        started_id, _ = kernel.run(
            "task = asyncio.ensure_future(nbstream.agather("
            f"[f'prompt {{i}}' for i in range({args.streams})], concurrency={args.streams}, "
            f"params={options}))"
        )
        probes, probe_ids = [], set()
        while sum(r.outcome != "pending" for r in server.log.records) < args.streams + 1:
            probe_id, took = kernel.run("21 * 2")
            probes.append(took)
            probe_ids.add(probe_id)
            kernel.drain(timeout=0.5)
        kernel.run("results = await task")
        kernel.drain(timeout=0.5)
        grid = [t for t, parent, _ in kernel.outputs if parent == started_id]
        wall = max(grid) - start
        outputs = [t for t, parent, _ in kernel.outputs if t >= start and parent not in probe_ids]
        rate = len(outputs) / wall
        peak = peak_per_second(outputs)
    finally:
        kernel.close()
        server.stop()

    def row(measure: str, value: str, target: str, met: bool) -> str:
        return f"| {measure} | {value} | {target} | {'✓' if met else '✗'} |"

    print(f"\n{args.streams} streams of {args.tokens} tokens at {args.rate:g} tokens/s each; "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}\n")  # fmt: skip
    print("| measure | nbstream | target | met |\n|---|---|---|---|")
    print(row("one stream alone, wall", f"{one:.2f} s", "baseline", True))
    print(
        row(
            "all at once, wall",
            f"{wall:.2f} s ({wall / one:.2f}x)",
            "≤ 1.3x one",
            wall <= 1.3 * one,
        )
    )
    print(row("IOPub output msgs/s, mean", f"{rate:.1f}", "≤ 20/s", rate <= 20))
    print(row("IOPub output msgs/s, peak 1 s", f"{peak}", "≤ 20 (never 1,000)", peak <= 20))
    median = statistics.median(probes) if probes else float("nan")
    print(
        row(
            "another cell's round trip meanwhile",
            f"median {median * 1000:.0f} ms, "
            f"max {max(probes) * 1000:.0f} ms ({len(probes)} probes)",
            "answers",
            bool(probes),
        )
    )


if __name__ == "__main__":
    main()
