"""Per-chunk cost of nbstream's reading path against the SDK's per-chunk model construction.

    python benchmarks/bench_wire.py

nbstream reads SSE bytes itself (engine/sse.py), parses each event with json.loads and folds
the plain dict (engine/wire.py, engine/accumulate.py); the SDK's own iterator builds a pydantic
`ChatCompletionChunk` per event. Prints microseconds per chunk and a ✓/✗ table of targets,
set as fractions of the SDK's cost measured in the same run (the machine is shared: absolute
numbers move several-fold with its load, the ratios much less).
"""

from __future__ import annotations

import json
import time

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

    reference = _per_chunk(sdk)
    rows = [
        ("SSE parsing (bytes to events)", _per_chunk(sse), 0.1),
        ("json.loads + normaliser + accumulator", _per_chunk(nbstream), 0.25),
        ("SDK chunk model construction", reference, None),
    ]
    for name, micros, share in rows:
        mark = "" if share is None else ("✓" if micros <= share * reference else "✗")
        limit = "" if share is None else f"(target ≤ {share:g} of the SDK's)"
        print(f"{mark:1} {name:40} {micros:7.1f} µs/chunk {limit}")


if __name__ == "__main__":
    main()
