"""Reasoning in a real IPython kernel: what a %%chat cell shows live and keeps, and its options."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator

import pytest

from nbstream.offline.server import OfflineServer

from .conftest import SECRET_KEY
from .kernels import Execution, Kernel, clean_env

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(server: OfflineServer, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-reasoning"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("kernel"))
    started.execute("%load_ext nbstream")
    yield started
    started.shutdown()


def chat(kernel: Kernel, options: str = "", **server_options) -> Execution:
    if server_options:
        options += " -p nbstream=" + shlex.quote(json.dumps(server_options))
    return kernel.execute(f"%%chat --no-history {options}\nWhich is greater, 9.11 or 9.8?")


def final(run: Execution) -> dict[str, str]:
    return (run.of("update_display_data") or run.of("display_data"))[-1]["data"]


def test_reasoning_streams_as_thinking_then_folds_above_the_answer(kernel: Kernel) -> None:
    # 37 reasoning tokens at 10 a second give a busy kernel 3.7 s to show one update while
    # it thinks (it may show 10 a second); a short answer keeps the cell short.
    run = chat(kernel, rate=10, text="Nine point eight is greater.")
    assert run.reply["status"] == "ok"
    live = [u["data"]["text/plain"] for u in run.of("update_display_data")[:-1]]
    assert any("thinking · " in text for text in live)
    shown = final(run)
    markdown = shown["text/markdown"]
    assert markdown.startswith("<details><summary>💭 Reasoning · 37 tokens")
    assert markdown.index("</details>") < markdown.index("Nine point eight is greater.")
    assert "reasoning 37 · first token" in shown["text/plain"]
    assert "answer after" in shown["text/plain"]


def test_hide_reasoning_shows_only_its_count(kernel: Kernel) -> None:
    shown = final(chat(kernel, "--hide-reasoning"))
    assert "The request has" not in shown["text/markdown"]
    assert "37 reasoning tokens (hidden)" in shown["text/markdown"]


def test_stopped_while_thinking_shows_the_reasoning_then_fails_the_cell(kernel: Kernel) -> None:
    run = chat(kernel, "--max-tokens 5")
    assert run.reply["status"] == "error" and run.error["ename"] == "IncompleteError"
    assert "stopped by max_tokens while reasoning" in run.error["evalue"]
    assert "The request has 1 message;" in final(run)["text/markdown"]


def test_the_responses_api_and_its_options_from_a_cell(kernel: Kernel, log) -> None:
    run = chat(kernel, "--api responses --reasoning-summary concise --reasoning-effort low")
    assert run.reply["status"] == "ok"
    body = log.records[-1].body
    assert log.records[-1].endpoint == "responses"
    assert body["reasoning"] == {"effort": "low", "summary": "concise"}
    assert "💭 Reasoning" in final(run)["text/markdown"]
    log.clear()
    refused = chat(kernel, "--api chat --reasoning-summary auto")
    assert refused.reply["status"] == "error" and log.records == []
    assert "needs the Responses API" in refused.error["evalue"]
