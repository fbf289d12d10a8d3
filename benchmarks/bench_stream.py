"""Streaming in a real kernel at full speed: nbstream's cell against the raw SDK loop.

    python benchmarks/bench_stream.py          # 5,000 chunks: about a minute
    python benchmarks/bench_stream.py --long   # the issue's 20,000 chunks

The offline server runs in a child process (`_harness.Server`); one kernel runs every cell
(`_kernel.py` says how messages, bytes, wall and CPU are counted).
1. Full speed (`--tokens` chunks at rate 0), variants interleaved round-robin, the first round
   a warm-up, median of the rest: collect = the sync SDK loop collecting the text; print =
   the same loop printing each delta; update (`--long` only) = `handle.update(Markdown(text))`
   per chunk;
   nbstream = `%%chat --new`.
IOPub bytes by reply shape are in bench_iopub.py.

Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import argparse
import sys

from _harness import Report, chat_cell, kernel_env, median, server
from _kernel import Kernel, Run, kernel

SETUP = """
import os, openai, nbstream
from IPython.display import display, Markdown
_client = openai.OpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="sk-bench", max_retries=0)
def _kwargs(tokens):
    return dict(model="nbstream-demo", messages=[{"role": "user", "content": "bench"}],
                stream=True, extra_body={"nbstream": {"tokens": tokens, "rate": 0}})
get_ipython().run_line_magic("load_ext", "nbstream")
"""
LOOP = "for _chunk in _client.chat.completions.create(**_kwargs({tokens})):\n"
HAS = "    if _chunk.choices and _chunk.choices[0].delta.content:\n        _d = _chunk.choices[0]"
CELLS = {
    "collect": "_parts = []\n" + LOOP + HAS + ".delta.content\n        _parts.append(_d)",
    "print": LOOP + HAS + ".delta.content\n        print(_d, end='', flush=True)",
    "update": "_text = ''\n_h = display(Markdown(_text), display_id=True)\n" + LOOP + HAS
    + ".delta.content\n        _text += _d\n        _h.update(Markdown(_text))",
}  # fmt: skip


def full_speed(k: Kernel, tokens: int, runs: int, long: bool) -> dict[str, dict[str, float]]:
    # The update-per-chunk baseline takes longer than all the others: only with --long.
    cells = {name: code.format(tokens=tokens) for name, code in CELLS.items()
             if long or name != "update"}  # fmt: skip
    cells["nbstream"] = chat_cell({"tokens": tokens, "rate": 0})
    stats: dict[str, list[Run]] = {name: [] for name in cells}
    for round_ in range(runs + 1):
        for name, code in cells.items():
            run = k.execute(code)
            if round_:  # the first round warms up
                stats[name].append(run)
    return {
        name: {"wall": median([r.wall for r in rs]), "cpu": median([r.cpu for r in rs]),
               "bytes": median([r.output_bytes for r in rs]),
               "peak": median([r.peak() for r in rs])}
        for name, rs in stats.items()
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true", help="the issue's sizes")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (after a warm-up)")
    args = parser.parse_args()
    tokens = 20_000 if args.long else 5_000
    report = Report("bench_stream")
    with server() as srv, kernel(kernel_env(srv.url)) as k:
        k.execute(SETUP)
        print(f"1. {tokens:,} chunks at full speed, {args.runs} rounds + a warm-up", flush=True)
        full = full_speed(k, tokens, args.runs, args.long)
        others = [n for n in ("print", "update") if n in full]
        nb, co = full["nbstream"], full["collect"]
        report.add(f"{tokens:,} chunks at full speed: cell wall (median of {args.runs})",
                   f"{nb['wall']:.2f} s = {nb['wall'] / co['wall']:.2f}x collect",
                   f"collect {co['wall']:.2f} s; " + "; ".join(
                       f"{n} {full[n]['wall'] / co['wall']:.2f}x" for n in others), "≤ 1.0x",
                   nb["wall"] <= co["wall"])  # fmt: skip
        report.add("same: kernel CPU", f"{nb['cpu']:.2f} s = {nb['cpu'] / co['cpu']:.2f}x",
                   f"collect {co['cpu']:.2f} s", "", None)  # fmt: skip
        report.add("same: IOPub output messages, peak per second", f"{nb['peak']:.0f}/s",
                   "; ".join(f"{n} {full[n]['peak']:.0f}/s" for n in others), "≤ 20/s",
                   nb["peak"] <= 20)  # fmt: skip
    report.print()


if __name__ == "__main__":
    sys.exit(main())
