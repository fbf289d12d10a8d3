"""Streaming in a real kernel: nbstream's cell against the raw SDK loop, and IOPub traffic.

    python benchmarks/bench_stream.py          # about 2 minutes
    python benchmarks/bench_stream.py --long   # the issue's sizes: 20,000 chunks, 50,000-token
                                               # replies of every shape, one at 200 tokens/s

The offline server runs in a child process (`_harness.Server`); one kernel runs every cell
(`_kernel.py` says how messages, bytes, wall and CPU are counted).
1. Full speed (`--tokens` chunks at rate 0), variants interleaved round-robin, the first round
   a warm-up, median of the rest: collect = the sync SDK loop collecting the text; print =
   the same loop printing each delta; update = `handle.update(Markdown(text))` per chunk;
   nbstream = `%%chat --new`.
2. IOPub bytes over the reply's UTF-8 bytes, and the largest message, for each reply shape
   (`_shapes.py`, and the server's filler prose with paragraphs), at full speed and paced.
3. Output messages per second of a paced reply: the most in any 1 s window.

Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import argparse
import json
import sys

from _harness import Report, chat_cell, kb, kernel_env, median, server
from _kernel import Kernel, Run, kernel
from _shapes import shapes

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


def full_speed(k: Kernel, tokens: int, runs: int) -> dict[str, dict[str, float]]:
    cells = {name: code.format(tokens=tokens) for name, code in CELLS.items()}
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


def shape_run(k: Kernel, text: str | None, tokens: int, rate: float) -> Run:
    """One reply of `text` (None: the server's filler prose) through `nbstream.chat`."""
    options = {"rate": rate, **({"text": text} if text is not None else {"tokens": tokens})}
    k.execute(f"_options = {json.dumps(options)!r}")
    return k.execute("_ = nbstream.chat('bench', params={'nbstream': json.loads(_options)})")


def reply_bytes(k: Kernel) -> int:
    run = k.execute("print(len(_.text.encode()))")
    return int(next(m.json()["text"] for m in run.outputs if m.kind == "stream"))


def bytes_rows(report: Report, k: Kernel, tokens: int, rate: float, runs: int) -> None:
    texts: dict[str, str | None] = {"prose (the server's filler)": None, **shapes(tokens)}
    for name, text in texts.items():
        ratios, largest = [], []
        for _ in range(runs):
            run = shape_run(k, text, tokens, rate)
            ratios.append(run.output_bytes / reply_bytes(k))
            largest.append(max(len(m.content) for m in run.outputs))
        pace = "full speed" if rate == 0 else f"{rate:g} tok/s"
        report.add(f"IOPub bytes / reply bytes: {name}, ~{tokens:,} tokens at {pace}",
                   f"{median(ratios):.1f}x (largest msg {kb(median(largest))})", "",
                   "≤ 4x (largest ≤ 100 KB)",
                   median(ratios) <= 4 and median(largest) <= 100_000)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true", help="the issue's sizes")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (after a warm-up)")
    args = parser.parse_args()
    tokens, shape_tokens = (20_000, 50_000) if args.long else (5_000, 5_000)
    report = Report("bench_stream")
    with server() as srv, kernel(kernel_env(srv.url)) as k:
        k.execute(SETUP + "\nimport json")
        print(f"1. {tokens:,} chunks at full speed, {args.runs} rounds + a warm-up", flush=True)
        full = full_speed(k, tokens, args.runs)
        nb, co = full["nbstream"], full["collect"]
        report.add(f"{tokens:,} chunks at full speed: cell wall (median of {args.runs})",
                   f"{nb['wall']:.2f} s = {nb['wall'] / co['wall']:.2f}x collect",
                   f"collect {co['wall']:.2f} s; print {full['print']['wall'] / co['wall']:.2f}x;"
                   f" update {full['update']['wall'] / co['wall']:.2f}x", "≤ 1.0x",
                   nb["wall"] <= co["wall"])  # fmt: skip
        report.add("same: kernel CPU", f"{nb['cpu']:.2f} s = {nb['cpu'] / co['cpu']:.2f}x",
                   f"collect {co['cpu']:.2f} s", "", None)  # fmt: skip
        report.add("same: IOPub output messages, peak per second", f"{nb['peak']:.0f}/s",
                   f"print {full['print']['peak']:.0f}/s; update "
                   f"{full['update']['peak']:.0f}/s", "≤ 20/s", nb["peak"] <= 20)  # fmt: skip
        print(f"2. IOPub bytes by shape, ~{shape_tokens:,} tokens", flush=True)
        bytes_rows(report, k, shape_tokens, 0, args.runs)
        paced = (50_000, 200.0) if args.long else (1_000, 100.0)
        print(f"3. a paced reply: {paced[0]:,} tokens at {paced[1]:g} tok/s", flush=True)
        runs = [shape_run(k, None, paced[0], paced[1]) for _ in range(1 if args.long else 3)]
        ratio = median([r.output_bytes / reply_bytes(k) for r in runs])
        peak = median([r.peak() for r in runs])
        report.add(f"{paced[0]:,} tokens at {paced[1]:g} tok/s: IOPub bytes / reply bytes",
                   f"{ratio:.1f}x", "", "≤ 4x", ratio <= 4)  # fmt: skip
        report.add("same: output messages, peak per second", f"{peak:.0f}/s", "",
                   "≈ 10/s, ≤ 20/s", 5 <= peak <= 20)  # fmt: skip
    report.print()


if __name__ == "__main__":
    sys.exit(main())
