"""The engine reads the stream itself (SSE bytes, `json.loads`, plain dicts): it must read
every fixture as the openai SDK's own parsing does, at every chunk boundary.

Each stream is fetched twice from the shipped server: as bytes (which nbstream's parser reads,
split at every point) and through the SDK's own streaming loop (its `ChatCompletionChunk`
objects, the reference).
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from nbstream.engine import loop
from nbstream.engine.result import ChatResult, Status
from nbstream.engine.sse import ServerEvent, SSEParser
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import StreamError
from nbstream.offline.server import OfflineServer

from .conftest import SECRET_KEY
from .folding import Fold
from .test_reasoning import PROVIDERS, chunk, sse

HELLO = [{"role": "user", "content": "Hello"}]
#: The server's models whose streams end well or simply stop (the broken ones are test_engine's).
MODELS = [
    "nbstream-demo", "nbstream-reasoning-content", "nbstream-reasoning", "nbstream-think",
    "nbstream-hidden-reasoning", "fault-framing", "fault-no-usage", "fault-zero-usage",
    "fault-length", "fault-content-filter", "fault-tool-calls", "fault-refusal",
    "fault-no-finish", "fault-no-done",
]  # fmt: skip


def fetch(server: OfflineServer, model: str, options: dict[str, Any]) -> tuple[bytes, list[Any]]:
    """The stream's bytes, and the SDK's chunks for the same request."""
    client = openai.OpenAI(api_key=SECRET_KEY, base_url=server.url, max_retries=0)
    kwargs: dict[str, Any] = {
        "model": model, "messages": HELLO, "stream": True,
        "stream_options": {"include_usage": True}, "extra_body": {"nbstream": options},
    }  # fmt: skip
    with client.chat.completions.with_streaming_response.create(**kwargs) as response:
        raw = b"".join(response.iter_bytes())
    chunks = list(client.chat.completions.create(**kwargs))
    client.close()
    return raw, chunks


def sdk_reply(chunks: list[Any]) -> dict[str, Any]:
    """What the SDK's objects say the reply is (the first choice)."""
    reply: dict[str, Any] = {"text": "", "reasoning": "", "refusal": "", "finish": None,
                             "usage": None, "calls": {}, "model": ""}  # fmt: skip
    for sdk_chunk in chunks:
        reply["model"] = reply["model"] or sdk_chunk.model
        usage = sdk_chunk.usage or (getattr(sdk_chunk, "x_groq", None) or {}).get("usage")
        if usage:
            reply["usage"] = usage if isinstance(usage, dict) else usage.model_dump()
        for choice in sdk_chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            reply["text"] += delta.content or ""
            extra = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
            reply["reasoning"] += extra or ""
            reply["refusal"] += delta.refusal or ""
            for call in delta.tool_calls or ():
                slot = reply["calls"].setdefault(call.index, ["", ""])
                slot[0] += call.function.name or "" if call.function else ""
                slot[1] += call.function.arguments or "" if call.function else ""
            reply["finish"] = choice.finish_reason or reply["finish"]
    return reply


def read(raw: bytes, cuts: list[int]) -> ChatResult:
    """nbstream's reading of `raw` delivered in pieces ending at `cuts`."""
    parser, fold = SSEParser(), Fold(think_tags=False)
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        for item in parser.feed(raw[start:end]):
            if isinstance(item, ServerEvent) and item.data != "[DONE]":
                fold.feed(json.loads(item.data))
    return fold.result()


def same(result: ChatResult, reply: dict[str, Any]) -> None:
    assert result.text == reply["text"]
    assert result.reasoning == reply["reasoning"].strip()
    assert (result.refusal or "") == reply["refusal"]
    assert result.finish_reason == reply["finish"]
    assert result.model == reply["model"]
    assert {c.index: [c.name, c.arguments] for c in result.tool_calls} == reply["calls"]
    if reply["usage"] and reply["usage"]["total_tokens"]:
        assert result.usage.total_tokens == reply["usage"]["total_tokens"]
        assert result.usage.prompt_tokens == reply["usage"]["prompt_tokens"]


@pytest.mark.parametrize("model", MODELS)
def test_each_server_model_reads_as_the_sdk_reads_it_even_a_byte_at_a_time(server, model):
    raw, chunks = fetch(server, model, {"tokens": 40} if model == "nbstream-demo" else {})
    reply = sdk_reply(chunks)
    assert reply["text"] or reply["calls"] or reply["refusal"]
    same(read(raw, []), reply)
    same(read(raw, list(range(1, len(raw)))), reply)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_providers_documented_stream_reads_as_the_sdk_reads_it_at_every_split(
    server, provider
) -> None:
    raw, chunks = fetch(server, "nbstream-demo", {"replay": PROVIDERS[provider]})
    reply = sdk_reply(chunks)
    assert reply["reasoning"] and reply["text"]
    for cut in range(len(raw) + 1):
        same(read(raw, [cut]), reply)


@pytest.mark.parametrize(
    "bad",
    [{"choices": [{"index": 0, "delta": "text"}]}, {"choices": ["text"]},
     {"choices": [{"delta": {"tool_calls": ["f"]}}]}, {"choices": {"index": 0}}],
)  # fmt: skip
def test_a_chunk_of_the_wrong_shape_fails_as_malformed_and_keeps_the_reply(settings, bad):
    replay = sse(chunk({"role": "assistant", "content": "Kept"}), bad)
    request = ChatRequest(HELLO, "nbstream-demo", {"nbstream": {"replay": replay}})
    with pytest.raises(StreamError, match="malformed event") as caught:
        loop.run(ChatStream(request, settings).run())
    assert caught.value.result.text == "Kept"
    assert caught.value.result.status is Status.FAILED
