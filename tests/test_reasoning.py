"""Reasoning models through the real SDK against the shipped server: each provider's documented
stream, replayed byte for byte, and the server's own reasoning demo models.

The replayed streams are written from each provider's documented streaming format (the page is
cited on each); ids, timestamps and texts are shortened, the field layout is the documented one.
Speeds are measured with an injected clock that advances per event, never with wall-clock time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nbstream.engine import loop
from nbstream.engine.accumulate import STOPPED_REASONING
from nbstream.engine.result import Event, ReasoningDelta, Retrying, Status, TextDelta
from nbstream.engine.stream import ChatRequest, ChatStream
from nbstream.errors import ModelNotFoundError, ReplyTimeoutError
from nbstream.settings import Settings

HELLO = [{"role": "user", "content": "9.11 and 9.8, which is greater?"}]


class EventClock:
    """Time advances only when the engine passes an event on: reasoning 0.5 s, text 0.1 s."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self, event: Event) -> None:
        if isinstance(event, ReasoningDelta):
            self.now += 0.5
        elif isinstance(event, TextDelta):
            self.now += 0.1


def run(settings: Settings, model: str, *, clock: EventClock | None = None, **options: Any):
    params = options.pop("params", {})
    if options:
        params["nbstream"] = options
    events: list[Event] = []

    def sink(event: Event) -> None:
        events.append(event)
        if clock is not None:
            clock.tick(event)

    extra = {"clock": clock} if clock is not None else {}
    stream = ChatStream(ChatRequest(HELLO, model, params), settings, sink, **extra)
    return loop.run(stream.run()), events


def sse(*chunks: dict[str, Any], done: bool = True) -> str:
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    return text + ("data: [DONE]\n\n" if done else "")


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    head = {"id": "x-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def usage_chunk(usage: dict[str, Any], **extra: Any) -> dict[str, Any]:
    head = {"id": "x-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return {**head, "choices": [], "usage": usage, **extra}


# https://api-docs.deepseek.com/guides/reasoning_model (deepseek-reasoner, streaming):
# reasoning in delta.reasoning_content with content null, then content; usage with cache hits.
DEEPSEEK = sse(
    chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
    chunk({"content": None, "reasoning_content": "Compare"}),
    chunk({"content": None, "reasoning_content": " 9.11 and 9.80."}),
    chunk({"content": None, "reasoning_content": " 0.80 > 0.11."}),
    chunk({"content": "9.8", "reasoning_content": None}),
    chunk({"content": " is greater.", "reasoning_content": None}),
    chunk({"content": "", "reasoning_content": None}, "stop"),
    usage_chunk({"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20,
                 "prompt_tokens_details": {"cached_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 3},
                 "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 15}),
)  # fmt: skip

# https://docs.ollama.com/api/openai-compatibility and https://docs.ollama.com/capabilities/thinking:
# thinking models stream `reasoning` beside an empty content; usage as Chat Completions.
OLLAMA = sse(
    chunk({"role": "assistant", "content": "", "reasoning": "Compare"}),
    chunk({"role": "assistant", "content": "", "reasoning": " 9.11 and 9.80."}),
    chunk({"role": "assistant", "content": "", "reasoning": " 0.80 > 0.11."}),
    chunk({"role": "assistant", "content": "9.8"}),
    chunk({"role": "assistant", "content": " is greater."}),
    chunk({"role": "assistant", "content": ""}, "stop"),
    usage_chunk({"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20}),
)

# https://docs.vllm.ai/en/latest/features/reasoning_outputs.html: with --reasoning-parser the
# reasoning streams in `reasoning` (vLLM >= 0.11; `reasoning_content` before), content after.
VLLM = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning": "Compare"}),
    chunk({"reasoning": " 9.11 and 9.80."}),
    chunk({"reasoning": " 0.80 > 0.11."}),
    chunk({"content": "9.8"}),
    chunk({"content": " is greater."}, "stop"),
    usage_chunk({"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20}),
)

# https://openrouter.ai/docs/use-cases/reasoning-tokens: `reasoning` and `reasoning_details`
# carry the same text; the last chunk's usage has reasoning tokens and the cost in dollars.
_DETAIL = {"type": "reasoning.text", "format": "unknown", "index": 0}
OPENROUTER = ": OPENROUTER PROCESSING\n\n" + sse(
    chunk({"role": "assistant", "content": "", "reasoning": "Compare",
           "reasoning_details": [{**_DETAIL, "text": "Compare"}]}),
    chunk({"role": "assistant", "content": "", "reasoning": " 9.11 and 9.80.",
           "reasoning_details": [{**_DETAIL, "text": " 9.11 and 9.80."}]}),
    chunk({"role": "assistant", "content": "", "reasoning": " 0.80 > 0.11.",
           "reasoning_details": [{**_DETAIL, "text": " 0.80 > 0.11."}]}),
    chunk({"role": "assistant", "content": "9.8"}),
    chunk({"role": "assistant", "content": " is greater."}, "stop"),
    usage_chunk({"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20, "cost": 0.00042,
                 "prompt_tokens_details": {"cached_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 3}}),
)  # fmt: skip

# https://ai.google.dev/gemini-api/docs/openai (thinking): Google's page does not pin the field of
# the thought summaries in a stream, so this replay sends them as `reasoning_content`, as the
# gateways in front of Gemini do; the usage is the shape nbstream must normalise, with the
# thoughts outside completion_tokens but inside total_tokens (an assumption, not a capture).
GEMINI = sse(
    chunk({"role": "assistant", "content": None, "reasoning_content": "Compare"}),
    chunk({"content": None, "reasoning_content": " 9.11 and 9.80."}),
    chunk({"content": None, "reasoning_content": " 0.80 > 0.11."}),
    chunk({"content": "9.8"}),
    chunk({"content": " is greater."}, "stop",
          usage={"prompt_tokens": 15, "completion_tokens": 2, "total_tokens": 20,
                 "completion_tokens_details": {"reasoning_tokens": 3}}),
)  # fmt: skip

# https://console.groq.com/docs/reasoning (reasoning_format=parsed: `reasoning` in the delta)
# and https://console.groq.com/docs/openai: usage under `x_groq` on the last chunk.
GROQ = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning": "Compare"}),
    chunk({"reasoning": " 9.11 and 9.80."}),
    chunk({"reasoning": " 0.80 > 0.11."}),
    chunk({"content": "9.8"}),
    chunk({"content": " is greater."}),
    chunk({}, "stop", x_groq={"id": "req_01", "usage": {
        "prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20}}),
)  # fmt: skip

# https://docs.litellm.ai/docs/reasoning_content: LiteLLM normalises every provider's reasoning
# to `reasoning_content` and reports usage with reasoning tokens.
LITELLM = sse(
    chunk({"role": "assistant", "content": None, "reasoning_content": "Compare"}),
    chunk({"content": None, "reasoning_content": " 9.11 and 9.80."}),
    chunk({"content": None, "reasoning_content": " 0.80 > 0.11."}),
    chunk({"content": "9.8"}),
    chunk({"content": " is greater."}, "stop"),
    usage_chunk({"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20,
                 "completion_tokens_details": {"reasoning_tokens": 3},
                 "prompt_tokens_details": {"cached_tokens": 12}}),
)  # fmt: skip

PROVIDERS = {"deepseek": DEEPSEEK, "ollama": OLLAMA, "vllm": VLLM, "openrouter": OPENROUTER,
             "gemini": GEMINI, "groq": GROQ, "litellm": LITELLM}  # fmt: skip


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_providers_documented_stream_shows_reasoning_then_the_answer(
    settings: Settings, provider: str
) -> None:
    clock = EventClock()
    result, events = run(settings, "nbstream-demo", clock=clock, replay=PROVIDERS[provider])
    assert result.status is Status.COMPLETE
    assert result.reasoning == "Compare 9.11 and 9.80. 0.80 > 0.11."
    assert result.text == "9.8 is greater."
    kinds = [type(e).__name__ for e in events if isinstance(e, (ReasoningDelta, TextDelta))]
    assert kinds == ["ReasoningDelta"] * 3 + ["TextDelta"] * 2
    # Reasoning at 0, 0.5, 1.0 s; the answer at 1.5 and 1.6 s (the clock is the events').
    assert result.time_to_first_token == 0.0
    assert result.timings.first_answer_token == pytest.approx(1.5)
    assert result.usage.completion_tokens == 5 and not result.usage.estimated
    assert result.tokens_per_second == pytest.approx(4 / 1.6)


def test_provider_usage_details_survive_the_trip(settings: Settings) -> None:
    deepseek, _ = run(settings, "nbstream-demo", replay=DEEPSEEK)
    assert (deepseek.usage.reasoning_tokens, deepseek.usage.cached_tokens) == (3, 0)
    openrouter, _ = run(settings, "nbstream-demo", replay=OPENROUTER)
    assert openrouter.usage.cost == pytest.approx(0.00042)
    assert len(openrouter.reasoning_items) == 3
    litellm, _ = run(settings, "nbstream-demo", replay=LITELLM)
    assert litellm.usage.cached_tokens == 12
    ollama, _ = run(settings, "nbstream-demo", replay=OLLAMA)
    assert ollama.usage.reasoning_tokens is None  # Ollama does not say


@pytest.mark.parametrize(
    "model", ["nbstream-reasoning-content", "nbstream-reasoning", "nbstream-think"]
)
def test_the_demo_reasoning_models_stream_reasoning_in_their_dialect(
    settings: Settings, model: str, log
) -> None:
    result, _ = run(settings, model)
    assert result.status is Status.COMPLETE
    assert result.reasoning.startswith("The request has 1 message")
    assert result.text.startswith("**Offline demo reply**")
    assert "<think>" not in result.text and "</think>" not in result.reasoning
    raw = log.records[-1]
    assert raw.model == model


def test_hidden_reasoning_is_counted_and_left_out_of_the_answers_speed(settings: Settings) -> None:
    clock = EventClock()
    result, _ = run(settings, "nbstream-hidden-reasoning", clock=clock)
    assert result.reasoning == "" and result.usage.reasoning_tokens == 37
    assert result.hidden_reasoning
    answer = result.usage.completion_tokens - 37
    assert result.tokens_per_second == pytest.approx((answer - 1) / ((answer - 1) * 0.1))


def test_stopped_by_max_tokens_while_thinking_is_incomplete_and_keeps_the_reasoning(
    settings: Settings,
) -> None:
    result, _ = run(settings, "nbstream-reasoning-content", params={"max_tokens": 5})
    assert result.status is Status.INCOMPLETE and result.error == STOPPED_REASONING
    assert result.text == "" and result.reasoning == "The request has 1 message;"


def test_reasoning_longer_than_the_first_token_deadline_is_life(settings: Settings) -> None:
    # The first reasoning token is sent at once and has 2 s to arrive on a busy machine;
    # 37 of them at 10/s make the answer start after 3.7 s, after the deadline. The answer
    # is short, to keep the test so.
    slow = settings.with_(first_token_timeout=2.0)
    result, _ = run(slow, "nbstream-reasoning", rate=10.0, first_token_delay=0.0,
                    text="9.8 is greater.")  # fmt: skip
    assert result.status is Status.COMPLETE and result.text == "9.8 is greater."


def test_keep_alive_comments_before_the_first_token_restart_its_deadline(
    settings: Settings,
) -> None:
    """Thirty keep-alives 0.1 s apart: 3 s without a token, under a 2 s deadline that each
    keep-alive restarts (20 times the gap between them: a busy machine keeps within it)."""
    thinking = ": keep-alive\n\n" * 30
    patient = settings.with_(first_token_timeout=2.0)
    result, _ = run(patient, "nbstream-demo", replay=thinking + DEEPSEEK, rate=10.0)
    assert result.text == "9.8 is greater."
    # Nothing at all for 10 s: the deadline passes long before the first keep-alive.
    with pytest.raises(ReplyTimeoutError, match="no first token"):
        run(patient, "nbstream-demo", replay=thinking + DEEPSEEK, rate=10.0,
            first_token_delay=10.0)  # fmt: skip


@pytest.mark.parametrize("style", ["litellm", "openrouter"])
def test_an_unknown_model_answered_with_400_lists_the_servers_models(
    settings: Settings, style: str
) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        run(settings, "gpt-9", unknown_as=style)
    assert "gpt-9" in caught.value.message and "nbstream-demo" in caught.value.models
    assert caught.value.status == 400 and caught.value.message.startswith("400 from ")


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "20"}, 0.02),
        ({"llm_provider-retry-after": "0.03"}, 0.03),
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "40ms",
          "x-ratelimit-remaining-tokens": "5000", "x-ratelimit-reset-tokens": "6m0s"}, 0.04),
    ],
)  # fmt: skip
def test_rate_limit_waits_follow_the_servers_headers(
    settings: Settings, fault_key: str, headers: dict[str, str], wait: float
) -> None:
    result, events = run(settings, "nbstream-demo", text="ok", fail_status=429,
                         fail_headers=headers, key=fault_key)  # fmt: skip
    assert result.text == "ok"
    (retry,) = [e for e in events if isinstance(e, Retrying)]
    assert retry.reason == "rate limited" and retry.wait == pytest.approx(wait)


def test_an_in_band_rate_limit_before_the_first_token_is_retried_like_a_429(
    settings: Settings, fault_key: str, log
) -> None:
    result, events = run(settings, "nbstream-demo", text="ok", fail_status=429,
                         fail_in_band=True, key=fault_key)  # fmt: skip
    assert result.text == "ok" and len(log.records) == 2
    assert [e.reason for e in events if isinstance(e, Retrying)] == ["rate limited"]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_before_the_first_token_are_retried(
    settings: Settings, fault_key: str, status: int, log
) -> None:
    result, _ = run(settings, "nbstream-demo", text="ok", fail_status=status, key=fault_key,
                    retry_after="0")  # fmt: skip
    assert result.text == "ok" and [r.status for r in log.records] == [status, 200]


def test_all_zero_usage_is_estimated(settings: Settings) -> None:
    result, _ = run(settings, "fault-zero-usage", text="one two three")
    assert result.usage.estimated and result.usage.completion_tokens == 3


def test_a_turn_stopped_while_thinking_is_kept_without_an_empty_assistant_turn(
    server, tmp_path
) -> None:
    """FAULTS row 30: the reasoning is kept in the store; history sends no empty reply."""
    from nbstream.session import Session
    from nbstream.settings import NbStream
    from nbstream.turn import TurnOptions

    session = Session(NbStream(base_url=server.url), cache=tmp_path / "cache.sqlite")
    options = TurnOptions(model="nbstream-reasoning", params={"max_tokens": 5})
    result = loop.run(session.achat("Think hard", options))
    assert result.status is Status.INCOMPLETE and result.reasoning
    (kept,) = session.store.thread().exchanges
    assert kept.result.reasoning == result.reasoning
    sent = session.store.messages("default", "Next")
    assert [m["role"] for m in sent] == ["user"]


def test_gathers_back_off_counts_an_in_band_rate_limit(settings: Settings, fault_key: str) -> None:
    """FAULTS row 33: the retry is reported as 'rate limited', which halves gather's pacer."""
    from nbstream.scale.pacer import Pacer

    pacer = Pacer(8)

    def sink(event: Event) -> None:
        if isinstance(event, Retrying) and event.reason == "rate limited":
            pacer.rate_limited(0.0, pacer.epoch)

    stream = ChatStream(
        ChatRequest(HELLO, "nbstream-demo", {"nbstream": {"text": "ok", "fail_status": 429,
                                                          "fail_in_band": True,
                                                          "key": fault_key}}),
        settings,
        sink,
    )  # fmt: skip
    assert loop.run(stream.run()).text == "ok" and pacer.allowed == 4
