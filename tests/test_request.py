"""What is sent: the SDK's keywords for a request, and the streamed body's bytes."""

from __future__ import annotations

import asyncio

import openai

from nbstream.engine.request import ChatRequest, chat_kwargs, open_stream, reads
from nbstream.settings import Api

from .conftest import SECRET_KEY

HELLO = [{"role": "user", "content": "Hello"}]


def test_known_parameters_are_keywords_and_others_go_in_the_json_body() -> None:
    request = ChatRequest(HELLO, "m", {"temperature": 0.2, "top_k": 5, "verbosity": "low"})
    assert chat_kwargs(request, include_usage=True) == {
        "model": "m",
        "messages": HELLO,
        "stream": True,
        "temperature": 0.2,
        "stream_options": {"include_usage": True},
        "extra_body": {"top_k": 5, "verbosity": "low"},
    }


def test_usage_is_asked_for_only_on_a_stream_that_may_include_it() -> None:
    whole = ChatRequest(HELLO, "m", stream=False)
    assert "stream_options" not in chat_kwargs(whole, include_usage=True)
    assert "stream_options" not in chat_kwargs(ChatRequest(HELLO, "m"), include_usage=False)
    assert "extra_body" not in chat_kwargs(ChatRequest(HELLO, "m"), include_usage=True)


def test_reasoning_items_never_go_to_chat_completions() -> None:
    history = [
        {"role": "assistant", "content": "hi", "reasoning_items": [{"type": "reasoning"}]},
        *HELLO,
    ]
    sent = chat_kwargs(ChatRequest(history, "m"), include_usage=True)["messages"]
    assert sent == [{"role": "assistant", "content": "hi"}, *HELLO]
    assert history[0]["reasoning_items"] == [{"type": "reasoning"}]  # the record is untouched


def test_a_chat_stream_is_opened_and_its_bytes_read_as_they_come(server, log) -> None:
    async def main() -> bytes:
        client = openai.AsyncOpenAI(base_url=server.url, api_key=SECRET_KEY)
        request = ChatRequest(HELLO, "nbstream-demo", {"nbstream": {"text": "one two"}})
        async with open_stream(client, request, Api.CHAT, True) as response:
            body = b"".join([piece async for piece in reads(response.http_response)])
        await client.close()
        return body

    body = asyncio.run(main())
    assert body.rstrip().endswith(b"data: [DONE]") and b'"one"' in body
    assert log.records[-1].body["stream_options"] == {"include_usage": True}
    assert log.records[-1].body["nbstream"] == {"text": "one two"}
