"""How soon a kernel shows the first token, and how soon an interrupt frees it.

    python benchmarks/bench_visible.py            # 5 runs of each: under a minute
    python benchmarks/bench_visible.py --runs 10

The offline server runs in its own process and stamps, with `time.monotonic()` (one clock for
the machine), the moment it writes a request's first content chunk and the moment the request
ends; this process stamps each IOPub message on receipt.
1. First visible text: a reply whose first word is a marker, after a 0.3 s first-token delay;
   the latency is the receipt of the cell's first output holding the marker minus the
   server's first-chunk stamp.
2. Interrupt: `%%chat` of 1,000 tokens at 20 tokens/s; 1 s after its first chunk,
   `interrupt_kernel()`; the time to the cell's idle status, and to the server seeing the
   connection closed.

Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import argparse
import time

from _harness import Report, Server, chat_cell, kernel_env, median, ms, server
from _kernel import Kernel, kernel

MARKER = "Qzvx7marker"


def first_visible(k: Kernel, srv: Server, runs: int) -> list[float]:
    text = f"{MARKER} " + "and then some more words follow the marker " * 4
    latencies = []
    for i in range(runs + 1):
        index = len(srv.records)
        run = k.execute(chat_cell({"text": text, "rate": 100, "first_token_delay": 0.3}))
        seen = next(m.received for m in run.outputs if MARKER.encode() in m.content)
        if i:  # the first run warms up
            latencies.append(seen - srv.records[index]["first_chunk"])
    return latencies


def interrupt(k: Kernel, srv: Server, runs: int) -> tuple[list[float], list[float]]:
    to_idle, to_closed = [], []
    for _ in range(runs):
        index = len(srv.records)
        msg_id, sent = k.send(chat_cell({"tokens": 1000, "rate": 20}))
        srv.wait_for(lambda r, i=index: len(r) > i and "first_chunk" in r[i], 30)
        time.sleep(1.0)
        interrupted = time.monotonic()
        k.km.interrupt_kernel()
        run = k.finish(msg_id, sent, timeout=30)
        to_idle.append(run.idle - interrupted)
        srv.wait_for(lambda r, i=index: r[i]["outcome"] != "pending", 10)
        to_closed.append(srv.records[index]["ended"] - interrupted)
        time.sleep(0.2)
    return to_idle, to_closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report = Report("bench_visible")
    with server() as srv, kernel(kernel_env(srv.url)) as k:
        k.execute("%load_ext nbstream")
        print(f"1. first visible text, {args.runs} runs + a warm-up", flush=True)
        seen = first_visible(k, srv, args.runs)
        report.add(f"first visible text after the first token is written (median of "
                   f"{args.runs})", f"{ms(median(seen))} (worst {ms(max(seen))})", "",
                   "≤ 50 ms", median(seen) <= 0.05)  # fmt: skip
        print(f"2. interrupt, {args.runs} runs", flush=True)
        idle, closed = interrupt(k, srv, args.runs)
        report.add(f"interrupt → kernel idle (median of {args.runs})",
                   f"{ms(median(idle))} (worst {ms(max(idle))})", "", "< 0.5 s",
                   median(idle) < 0.5)  # fmt: skip
        report.add("interrupt → the server sees the connection closed",
                   f"{ms(median(closed))} (worst {ms(max(closed))})", "", "< 0.5 s",
                   median(closed) < 0.5)  # fmt: skip
    report.print()


if __name__ == "__main__":
    main()
