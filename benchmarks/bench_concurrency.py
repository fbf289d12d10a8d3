"""Many streams at once in one kernel, against one alone.

    python benchmarks/bench_concurrency.py                # 50 streams x 1,000 tokens at 100 tok/s
    python benchmarks/bench_concurrency.py --streams 20 --tokens 300

The offline server runs in its own process. In one kernel, each round runs one stream alone
(`nbstream.chat`), then all of them at once as a background task
(`asyncio.ensure_future(nbstream.agather(prompts, concurrency=N))`, so the cell returns at
once); while they run another cell (`21 * 2`) is executed every 0.2 s and its round trip
timed. The wall time of the many runs from sending the starting cell to the last of its
outputs (the grid's final update) after the server has ended every request. Median of the
rounds; IOPub output messages of the grid are counted too (peak in any 1 s window).

Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import argparse
import time

from _harness import Report, Server, kernel_env, median, ms, server
from _kernel import Kernel, Message, Run, kernel


def alone(k: Kernel, params: str) -> float:
    return k.execute(f"nbstream.chat('one alone', params={params})").wall


def many(k: Kernel, srv: Server, streams: int, params: str) -> tuple[float, list[float], Run]:
    before = srv.done()
    code = (f"_task = asyncio.ensure_future(nbstream.agather([f'prompt {{i}}' for i in "
            f"range({streams})], concurrency={streams}, params={params}))")  # fmt: skip
    msg_id, sent = k.send(code)
    started = k.finish(msg_id, sent)
    probes = []
    while srv.done() < before + streams:
        probes.append(k.execute("21 * 2").wall)
        time.sleep(0.2)
    k.execute("_results = await _task")
    time.sleep(0.5)  # the grid's final update
    outputs: list[Message] = started.outputs + k.take(msg_id)
    run = Run(sent=sent, messages=outputs)
    return max(m.received for m in outputs) - sent, probes, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    params = f"{{'nbstream': {{'tokens': {args.tokens}, 'rate': {args.rate}}}}}"
    report = Report("bench_concurrency")
    ones, walls, probes, peaks = [], [], [], []
    with server() as srv, kernel(kernel_env(srv.url)) as k:
        k.execute("import asyncio, nbstream\n%load_ext nbstream")
        for round_ in range(args.runs):
            ones.append(alone(k, params))
            wall, probed, run = many(k, srv, args.streams, params)
            walls.append(wall)
            probes += probed
            peaks.append(run.peak())
            print(f"  round {round_ + 1}: one {ones[-1]:.2f} s, {args.streams} at once "
                  f"{wall:.2f} s, probe median {ms(median(probed))}", flush=True)  # fmt: skip
    one, all_ = median(ones), median(walls)
    what = f"{args.streams} x {args.tokens:,} tokens at {args.rate:g} tok/s"
    report.add(f"{what}: wall (median of {args.runs})", f"{all_:.2f} s = {all_ / one:.2f}x",
               f"one stream alone {one:.2f} s", "≤ 1.1x one", all_ <= 1.1 * one)  # fmt: skip
    report.add("same: another cell's round trip meanwhile",
               f"median {ms(median(probes))}, worst {ms(max(probes))}", "",
               "≤ 100 ms median", median(probes) <= 0.1)  # fmt: skip
    report.add("same: IOPub output messages, peak per second", f"{median(peaks):.0f}/s", "",
               "≤ 20/s", median(peaks) <= 20)  # fmt: skip
    report.print()


if __name__ == "__main__":
    main()
