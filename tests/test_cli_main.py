"""`nbstream chat` in-process: what the terminal shows, what the server got, the exit codes.
(tests/test_cli.py runs the installed command in a subprocess.)"""

from __future__ import annotations

import _thread
import threading

import pytest

from nbstream.cli import main

from .conftest import HANG, SECRET_KEY


@pytest.fixture
def url(server, log, monkeypatch, tmp_path) -> str:
    for name in ("NBSTREAM_MODEL", "NBSTREAM_BASE_URL", "NBSTREAM_CACHE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.chdir(tmp_path)
    return server.url


def test_chat_streams_the_reply_then_its_footer_and_exits_0(url, log, capsys) -> None:
    argv = ["chat", "Hello", "--base-url", url, "-m", "nbstream-demo", "-s", "Be brief.",
            "--temperature", "0.5", "--max-tokens", "7"]  # fmt: skip
    assert main(argv) == 0
    [record] = log.records
    assert record.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]
    assert (record.body["temperature"], record.body["max_tokens"]) == (0.5, 7)
    body, footer = capsys.readouterr().out.split("\n\n")
    assert len(body.split()) == 7
    assert footer.startswith("nbstream-demo · ") and "stopped: max tokens reached" in footer


def test_a_reply_cut_short_is_shown_and_exits_2(url, capsys) -> None:
    assert main(["chat", "Hi", "--base-url", url, "-m", "fault-no-finish"]) == 2
    assert "stream ended early after 5 tokens (no finish reason)" in capsys.readouterr().out


def test_an_error_is_one_line_and_a_hint_on_stderr_and_exits_1(url, log, capsys) -> None:
    assert main(["chat", "Hi", "--base-url", url, "-m", "fault-401"]) == 1
    out, err = capsys.readouterr()
    first, hint = err.rstrip("\n").splitlines()
    assert first.startswith("nbstream: 401 from 127.0.0.1:")
    assert hint == "  hint: check OPENAI_API_KEY (or the key you passed)"
    assert SECRET_KEY not in out + err
    [record] = log.records
    assert "temperature" not in record.body and "max_tokens" not in record.body  # not given


def test_an_empty_prompt_sends_nothing_and_exits_1(url, log, capsys) -> None:
    assert main(["chat", "   ", "--base-url", url]) == 1
    assert capsys.readouterr().err.startswith("nbstream: empty prompt")
    assert log.records == []


def test_an_interrupt_closes_the_connection_and_exits_130(url, log, capsys) -> None:
    def interrupt_once_streaming() -> None:
        if log.wait_for(lambda records: bool(records) and records[-1].chunks_sent >= 3, HANG):
            _thread.interrupt_main()

    threading.Thread(target=interrupt_once_streaming, daemon=True).start()
    argv = ["chat", "Hi", "--base-url", url, "-m", "fault-stall"]  # 3 tokens, then silence
    assert main(argv) == 130
    out, err = capsys.readouterr()
    assert " · interrupted after " in out and err == "\nnbstream: interrupted\n"
    assert log.wait_for(lambda records: records[-1].outcome == "disconnected", HANG)


def test_bad_arguments_are_usage_errors(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["chat", "Hi", "--temperature", "abc"])
    assert exited.value.code == 2
    assert "invalid float value: 'abc'" in capsys.readouterr().err
