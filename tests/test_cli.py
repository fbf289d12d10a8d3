"""The `nbstream` command and terminal IPython, as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest

import nbstream
from nbstream.offline.server import OfflineServer

from .conftest import HANG, SECRET_KEY
from .kernels import clean_env

NBSTREAM = [sys.executable, "-m", "nbstream.cli"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [*NBSTREAM, *args], capture_output=True, text=True, timeout=60,
        env=env or clean_env(), cwd=cwd,
    )  # fmt: skip


def test_chat_with_nothing_configured_streams_from_the_offline_demo() -> None:
    done = run("chat", "Hello")
    assert done.returncode == 0, done.stderr
    assert "Offline demo reply" in done.stdout
    assert "offline demo server at http://127.0.0.1:" in done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("nbstream-demo · ") and "first token" in last and "tok/s" in last


def test_chat_against_a_server_with_a_model(server: OfflineServer, log) -> None:
    env = clean_env(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY)
    done = run("chat", "Hi", "-m", "nbstream-demo", "--max-tokens", "5", env=env)
    assert done.returncode == 0, done.stderr
    assert "stopped: max tokens reached" in done.stdout
    assert log.records[-1].body["max_tokens"] == 5


def test_chat_errors_are_one_line_with_a_hint_and_no_key(server: OfflineServer) -> None:
    env = clean_env(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY)
    done = run("chat", "Hi", "-m", "fault-401", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("nbstream: 401 from 127.0.0.1:")
    assert "hint: check OPENAI_API_KEY" in done.stderr
    assert SECRET_KEY not in done.stderr + done.stdout
    assert (done.stdout + done.stderr).count("401 from") == 1


def test_version_prints_the_version() -> None:
    done = run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"nbstream {nbstream.__version__}"


def test_an_empty_prompt_is_refused() -> None:
    done = run("chat", "  ")
    assert done.returncode == 1 and "empty prompt" in done.stderr


def test_serve_says_how_to_use_it_and_how_to_stop_it_and_answers_any_model() -> None:
    server = subprocess.Popen(
        [*NBSTREAM, "serve", "--port", "0", "--rate", "0"],
        stdout=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    try:
        said = [server.stdout.readline() for _ in range(4)]
        assert said[0].startswith("nbstream offline server at http://127.0.0.1:")
        url = said[0].split(" at ")[1].split()[0]
        assert "any model name works" in said[1]
        assert said[2].strip() == f"point nbstream at it: export OPENAI_BASE_URL={url}"
        assert "Ctrl-C" in said[3]
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
            extra_body={"nbstream": {"text": "pong"}},
        )  # fmt: skip
        assert reply.choices[0].message.content == "pong" and reply.model == "nbstream-demo"
        assert next(m.id for m in client.models.list()) == "nbstream-demo"
        assert not any(m.id.startswith("fault-") for m in client.models.list())
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=HANG) == 0


def test_serve_with_faults_lists_them_and_refuses_unknown_models() -> None:
    server = subprocess.Popen(
        [*NBSTREAM, "serve", "--port", "0", "--rate", "0", "--faults"],
        stdout=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    try:
        url = server.stdout.readline().split(" at ")[1].split()[0]
        assert "unknown model name is a 404" in server.stdout.readline()
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        assert "fault-401" in [m.id for m in client.models.list()]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=HANG) == 0


@pytest.mark.kernel
def test_terminal_ipython_streams_plain_text_then_the_footer(
    server: OfflineServer, tmp_path: Path
) -> None:
    script = tmp_path / "chat.ipy"
    # A %%chat cell compiles to run_cell_magic; a script cannot hold a cell magic mid-file.
    options = """-p nbstream='{"text": "Plain *text* here."}'"""
    script.write_text(
        "%load_ext nbstream\n"
        f"get_ipython().run_cell_magic('chat', {options!r}, 'Hello from a terminal')\n"
    )
    env = clean_env(OPENAI_BASE_URL=server.url, NBSTREAM_MODEL="nbstream-demo",
                    IPYTHONDIR=str(tmp_path / "ipython"))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", str(script)],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Plain *text* here.\n\nnbstream-demo · " in done.stdout
    assert "text/markdown" not in done.stdout and "<sub>" not in done.stdout
