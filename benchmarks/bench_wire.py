"""Per-chunk cost of nbstream's reading path against the SDK's per-chunk model construction.

    python benchmarks/bench_wire.py

nbstream reads SSE bytes itself (engine/sse.py), parses each event with json.loads and folds
the plain dict (engine/wire.py, engine/accumulate.py); the SDK's own iterator builds a pydantic
`ChatCompletionChunk` per event. Prints microseconds per chunk and a ✓/✗ table of targets,
set as fractions of the SDK's cost measured in the same run (the machine is shared: absolute
numbers move several-fold with its load, the ratios much less). Median of 3 rounds.
"""

from __future__ import annotations

import json
import time

from _harness import Report, median
from openai._models import construct_type
from openai.types.chat import ChatCompletionChunk

from nbstream.engine.accumulate import Accumulator
from nbstream.engine.sse import SSEParser
from nbstream.engine.wire import ChatWire

CHUNKS = 20_000


def _chunk(i: int) -> dict:
    delta = {"reasoning_content": f" r{i}"} if i % 2 else {"content": f" w{i}"}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "system_fingerprint": "fp", "choices": [{"index": 0, "delta": delta,
            "logprobs": None, "finish_reason": None}], "usage": None}  # fmt: skip


def _per_chunk(run) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) / CHUNKS * 1e6


def main() -> None:
    chunks = [_chunk(i) for i in range(CHUNKS)]
    body = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks)
    texts = [json.dumps(c) for c in chunks]

    def sse() -> None:
        parser = SSEParser()
        for start in range(0, len(body), 4096):
            parser.feed(body[start : start + 4096])

    def nbstream() -> None:
        wire, acc = ChatWire(), Accumulator()
        for text in texts:
            for event in wire.feed(json.loads(text)):
                acc.apply(event)

    def sdk() -> None:
        for text in texts:
            construct_type(type_=ChatCompletionChunk, value=json.loads(text))

    report = Report("bench_wire")
    rounds = {name: [_per_chunk(run) for _ in range(3)] for name, run in
              (("sse", sse), ("nbstream", nbstream), ("sdk", sdk))}  # fmt: skip
    reference = median(rounds["sdk"])
    for name, key, share in (
        ("SSE parsing (bytes to events)", "sse", 0.1),
        ("json.loads + normaliser + accumulator", "nbstream", 0.25),
    ):
        micros = median(rounds[key])
        report.add(f"{name}, per chunk", f"{micros:.1f} µs = {micros / reference:.2f}x",
                   f"SDK chunk model construction {reference:.1f} µs", f"≤ {share:g}x",
                   micros <= share * reference)  # fmt: skip
    report.print()


if __name__ == "__main__":
    main()
