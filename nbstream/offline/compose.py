"""What a model of the offline server says: the reply's tokens, reasoning, and limits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .context import described, instance, schema_in
from .faults import Fault
from .replies import Reply, demo_text, filler, message_text, reasoning_text, tokenize
from .tooldemo import answer_tokens, tool_deltas


def build_reply(
    body: Mapping[str, Any],
    fault: Fault,
    opts: Mapping[str, Any],
    rate: float,
    delay: float,
    *,
    include_usage: bool,
) -> Reply:
    """The reply to a validated chat request: its deltas, cut at max_tokens, the prompt size."""
    prompt = sum(len(tokenize(message_text(m.get("content")))) + 3 for m in body["messages"])
    common: dict[str, Any] = {
        "prompt_tokens": prompt,
        "include_usage": include_usage,
        "zero_usage": fault.zero_usage,
    }
    if fault.deltas is not None:
        choices = fault.deltas(body)
        return Reply(body["model"], choices, [fault.finish] * len(choices), **common)
    calls = tool_deltas(body, opts)
    if calls is not None:  # the request offers tools: the demo calls one, thinking first
        dialect = None if fault.dialect == "think" else fault.dialect
        thoughts = tokenize(reasoning_text(body)) if dialect else []
        thinking, reasoning = _deltas(dialect, thoughts, [])
        hidden = len(thoughts) if dialect == "hidden" else 0
        deltas = [*thinking, *calls[1:]] if dialect != "hidden" else calls
        return Reply(body["model"], [deltas], ["tool_calls"], reasoning=reasoning, hidden=hidden,
                     **common)  # fmt: skip
    tokens = _answer(body, fault, opts, rate, delay)
    thoughts = tokenize(reasoning_text(body)) if fault.dialect else []
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    finish = fault.finish
    if limit is not None and len(thoughts) + len(tokens) > limit:
        # Reasoning comes first and counts against the limit: a small one stops it mid-thought.
        thoughts, finish = thoughts[:limit], "length"
        tokens = tokens[: limit - len(thoughts)]
    chunks = grouped(tokens, opts.get("chunk_tokens", 1))
    deltas, reasoning = _deltas(fault.dialect, thoughts, chunks)
    hidden = len(thoughts) if fault.dialect == "hidden" else 0
    return Reply(body["model"], [deltas], [finish], reasoning=reasoning, hidden=hidden,
                 grouped=len(tokens) - len(chunks), **common)  # fmt: skip


def grouped(tokens: list[str], size: int) -> list[str]:
    """The tokens `size` (1 or more) to a delta, as servers that batch their stream send them."""
    return ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]


def _answer(
    body: Mapping[str, Any], fault: Fault, opts: Mapping[str, Any], rate: float, delay: float
) -> list[str]:
    """The answer's tokens: a tool result's answer, the echo, the asked text or length, a schema
    instance, or the demo text, the first that applies."""
    answer = answer_tokens(body)
    if answer is not None:
        return answer
    if opts.get("echo"):  # the last message back, byte for byte (tests of what is shown)
        return tokenize(message_text(body["messages"][-1].get("content")))
    if "text" in opts:
        return tokenize(opts["text"])
    if "tokens" in opts or fault.filler is not None:
        return filler(opts.get("tokens", fault.filler))
    if (schema := schema_in(body)) is not None:  # a valid instance, as a model would write
        return tokenize(json.dumps(instance(schema), ensure_ascii=False))
    return tokenize(described(body) + demo_text(body, rate, delay))


def _deltas(
    dialect: str | None, thoughts: list[str], tokens: list[str]
) -> tuple[list[dict[str, Any]], int]:
    """The deltas in a dialect, and how many of them the server counts as reasoning."""
    role: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    answer = [{"content": token} for token in tokens]
    if dialect in ("reasoning_content", "reasoning"):
        # DeepSeek sends content null beside reasoning; Ollama sends "".
        empty = None if dialect == "reasoning_content" else ""
        thinking = [{"content": empty, dialect: token} for token in thoughts]
        return [{**role, dialect: ""}, *thinking, *answer], len(thinking)
    if dialect == "think" and thoughts:
        # Qwen on vLLM without a reasoning parser: the tags are content, and not counted apart.
        tags = [{"content": "<think>\n"}, *({"content": t} for t in thoughts)]
        closing = [{"content": "\n</think>\n\n"}] if tokens else []
        return [role, *tags, *closing, *answer], 0
    return [role, *answer], 0
