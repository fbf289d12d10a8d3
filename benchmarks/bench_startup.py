"""Starting up in fresh kernels: `%load_ext nbstream` against `import openai`, and the first
turn after the load against the second.

    python benchmarks/bench_startup.py            # 5 kernels of each kind: about a minute
    python benchmarks/bench_startup.py --runs 5

1. Both imports are compiled to bytecode first, as `pip install` does. For each run, two
   fresh kernels: a warm-up `pass`, a pause, then the measured cell — `import openai` in
   one, `%load_ext nbstream` in the other. Judged on the kernel process's
   CPU seconds for the cell (an import is single-threaded CPU work; unlike wall time it does
   not move when other processes share the cores); wall times are shown beside it.
2. A fresh kernel loads the extension, the user waits `--wait` seconds (the issue: ≥ 1 s),
   then two `%%chat` cells of 50 tokens at full speed: the first turn's wall against the
   second's. The offline server runs in its own process.

Benchmarks, not tests: nothing asserts; each row states its target and ✓ or ✗.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _harness import Report, chat_cell, kernel_env, median, ms, server
from _kernel import kernel


def compiled(env: dict[str, str], cache: str) -> dict[str, str]:
    """`env` with Python's bytecode cached in `cache`, and both imports compiled into it once.

    `pip install` compiles a package's bytecode; an editable checkout, or a machine that sets
    PYTHONDONTWRITEBYTECODE, compiles nbstream's source on every import (about 0.1 s) while
    openai's was compiled at install. Both sides are measured from bytecode, as users run them.
    """
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    with kernel(env, record=False) as k:
        k.execute("import openai\n%load_ext nbstream")
    return env


def load(env: dict[str, str], runs: int) -> dict[str, dict[str, float]]:
    cells = {"import openai": "import openai", "%load_ext nbstream": "%load_ext nbstream"}
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in cells}
    for _ in range(runs):
        for name, code in cells.items():
            with kernel(env, record=False) as k:
                k.execute("pass")
                time.sleep(0.3)  # let the fresh kernel settle
                run = k.execute(code)
                seen[name].append((run.cpu, run.wall))
                print(f"  {name:20s} CPU {ms(run.cpu)}, wall {ms(run.wall)}", flush=True)
    return {name: {"cpu": median([c for c, _ in v]), "wall": median([w for _, w in v])}
            for name, v in seen.items()}  # fmt: skip


def turns(env: dict[str, str], runs: int, wait: float) -> list[tuple[float, float]]:
    cell = chat_cell({"tokens": 50, "rate": 0})
    pairs = []
    for _ in range(runs):
        with kernel(env, record=False) as k:
            k.execute("%load_ext nbstream")
            time.sleep(wait)
            first, second = k.execute(cell).wall, k.execute(cell).wall
            pairs.append((first, second))
            print(f"  first turn {ms(first)}, second {ms(second)}", flush=True)
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--wait", type=float, default=1.0, help="seconds after %%load_ext")
    args = parser.parse_args()
    report = Report("bench_startup")
    with server() as srv, tempfile.TemporaryDirectory(prefix="nbstream-pyc-") as cache:
        env = compiled(kernel_env(srv.url), cache)
        print(f"1. %load_ext nbstream vs import openai, {args.runs} kernels each", flush=True)
        times = load(env, args.runs)
        ext, imp = times["%load_ext nbstream"], times["import openai"]
        ratio = ext["cpu"] / imp["cpu"]
        report.add(f"`%load_ext nbstream`, kernel CPU (median of {args.runs} fresh kernels)",
                   f"{ms(ext['cpu'])} = {ratio:.2f}x (wall {ms(ext['wall'])} = "
                   f"{ext['wall'] / imp['wall']:.2f}x)",
                   f"`import openai` {ms(imp['cpu'])} (wall {ms(imp['wall'])})", "≤ 0.3x",
                   ratio <= 0.3)  # fmt: skip
        print(f"2. first turn vs second, {args.wait:g} s after the load", flush=True)
        pairs = turns(env, args.runs, args.wait)
        first, second = median([f for f, _ in pairs]), median([s for _, s in pairs])
        report.add(f"first turn {args.wait:g} s after `%load_ext`, wall (median of {args.runs})",
                   f"{ms(first)} = {first / second:.2f}x the second turn",
                   f"second turn {ms(second)}", "≤ 1.2x", first <= 1.2 * second)  # fmt: skip
    report.print()


if __name__ == "__main__":
    main()
