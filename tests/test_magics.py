"""`%%chat` and `%chat` in real IPython kernels against the offline server."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbstream.offline.server import OfflineServer

from .conftest import HANG, SECRET_KEY
from .kernels import Execution, Kernel, clean_env

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(server: OfflineServer, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("kernel"))
    started.execute("%load_ext nbstream")
    yield started
    started.shutdown()


def chat(
    kernel: Kernel, prompt: str, options: str = "", cell: str | None = None, **server_options
) -> Execution:
    if server_options:
        options += " -p nbstream=" + shlex.quote(json.dumps(server_options))
    return kernel.execute(f"%%chat {options}\n{prompt}", cell_id=cell)


def thread_of(kernel: Kernel, name: str, field: str = "e.user") -> list:
    return value(
        kernel,
        f"[{field} for e in __import__('nbstream.session').session.current()"
        f".store.thread({name!r}).exchanges]",
    )


def value(kernel: Kernel, expression: str):
    run = kernel.execute(f"import json as _j; print(_j.dumps({expression}))")
    return json.loads(run.text)


def test_a_reply_streams_into_one_output_updated_in_place(kernel, log) -> None:
    run = chat(kernel, "Hello", "-t stream", tokens=120, rate=25)
    assert run.reply["status"] == "ok"
    assert len(run.of("display_data")) == 1
    texts = [u["data"]["text/plain"] for u in run.of("update_display_data")]
    growing = [t for t in texts if t.startswith("The") and "\nstreaming · " in t]
    # Several states of the growing reply: up to 10 a second for 4.8 s, so 5 need only about
    # one a second, however busy the machine.
    assert len(growing) >= 5
    final = run.final
    assert set(final["data"]) == {"text/markdown", "text/plain"}
    assert "nbstream-demo · 4 → 120 tokens (124)" in final["data"]["text/plain"]
    assert "first token" in final["data"]["text/plain"] and "tok/s" in final["data"]["text/plain"]
    record = final["metadata"]["nbstream"]
    assert record["usage"]["completion_tokens"] == 120 and record["thread"] == "stream"
    assert record["status"] == "complete"


def test_a_fast_5000_token_stream_sends_few_messages_and_the_exact_reply(kernel) -> None:
    text = "".join(f" word{i}" for i in range(5000)).strip()
    run = chat(kernel, "Go", "-t fast", text=text, rate=0)
    assert len(run.outputs) <= max(100, 20 * run.span)  # coalesced: not one a chunk (5,000)
    outputs = final_outputs(run)  # one line of 40 KB: cut between words into a few outputs
    parts = [o["data"]["text/plain"] for o in outputs]
    assert parts[-1].rsplit("\n", 1)[1].startswith("nbstream-demo · ")
    assert " ".join([*parts[:-1], parts[-1].rsplit("\n", 1)[0]]) == text
    assert all(o["data"]["text/markdown"].startswith("word") for o in outputs)
    assert value(kernel, "_chat.text") == text


def final_outputs(run: Execution) -> list[dict]:
    """The last content of each display of the cell: what the saved notebook keeps."""
    finals = {}
    for d in run.of("display_data", "update_display_data"):
        finals[d["transient"]["display_id"]] = d
    return list(finals.values())


def test_html_in_the_reply_stays_text(kernel) -> None:
    evil = (
        '<script>alert(1)</script> <img src=x onerror="alert(2)"> <iframe src="x"></iframe> '
        "[click](javascript:alert(3)) ![t](http://example.com/t.png)\n\n```html\n<b>code</b>\n```"
    )
    run = chat(kernel, "Go", "-t evil", text=evil)
    markdown = run.final["data"]["text/markdown"]
    for active in ("<script", "<img", "<iframe", "[click](", "![t]"):
        assert active not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "<b>code</b>" in markdown  # code blocks show their text as it is
    assert run.final["data"]["text/plain"].startswith(evil)


def test_interpolation_resolves_names_and_keeps_other_braces(kernel, log) -> None:
    kernel.execute("topic = 'tides'; cfg = {'depth': 3}")
    prompt = 'About {topic} at {cfg[depth]} m; keep {x:>10} {0} {{topic}} {"a": {"b": 1}} ${z}'
    chat(kernel, prompt, "--no-history")
    sent = log.records[-1].body["messages"][-1]["content"]
    assert sent == 'About tides at 3 m; keep {x:>10} {0} {topic} {"a": {"b": 1}} ${z}'
    chat(kernel, "{topic}", "--no-history --no-interpolate")
    assert log.records[-1].body["messages"][-1]["content"] == "{topic}"


def test_history_is_sent_and_a_rerun_cell_replaces_its_exchange(kernel, log) -> None:
    chat(kernel, "first", "-t rerun", text="one", cell="c1")
    chat(kernel, "second", "-t rerun", text="two", cell="c2")
    chat(kernel, "second again", "-t rerun", text="two bis", cell="c2")
    sent = log.records[-1].body["messages"]
    assert [m["content"] for m in sent] == ["first", "one", "second again"]
    assert thread_of(kernel, "rerun") == ["first", "second again"]


def test_system_prompt_new_and_no_history(kernel, log) -> None:
    chat(kernel, "a", '-t sys -s "Be brief."', text="x")
    assert log.records[-1].body["messages"][0] == {"role": "system", "content": "Be brief."}
    chat(kernel, "b", "-t sys", text="y")
    assert [m["content"] for m in log.records[-1].body["messages"]] == ["Be brief.", "a", "x", "b"]
    chat(kernel, "c", "-t sys --no-history", text="z")
    assert [m["content"] for m in log.records[-1].body["messages"]] == ["Be brief.", "c"]
    chat(kernel, "d", "-t sys --new", text="w")
    assert [m["content"] for m in log.records[-1].body["messages"]] == ["Be brief.", "d"]
    chat(kernel, "e", "-t sys", text="v")
    assert [m["content"] for m in log.records[-1].body["messages"]] == [
        "Be brief.", "d", "w", "e",
    ]  # fmt: skip


def test_request_options_reach_the_server(kernel, log) -> None:
    chat(kernel, "hi", '--temperature 0.2 --max-tokens 7 --top-p 0.5 --seed 3 -p user="u1"')
    body = log.records[-1].body
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["seed"]) == (
        0.2, 7, 0.5, 3,
    )  # fmt: skip
    assert body["user"] == "u1"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--temperature abc", "invalid float value"),
        ("--bogus", "unrecognized arguments"),
        ("-p 'unclosed", "No closing quotation"),
        ("-p novalue", "KEY=VALUE"),
    ],
)
def test_bad_options_are_one_line_errors_and_send_nothing(kernel, log, options, message) -> None:
    run = chat(kernel, "hi", options)
    assert run.reply["status"] == "error"
    assert message in run.text or message in json.dumps(run.error)
    assert log.records == []


def test_an_empty_prompt_is_an_error_not_a_request(kernel, log) -> None:
    run = kernel.execute("%%chat\n   \n")
    assert run.reply["status"] == "error" and "empty prompt" in run.text
    assert log.records == []


def test_401_is_a_short_error_without_the_key_and_history_is_unchanged(kernel, log) -> None:
    run = chat(kernel, "hi", "-t auth -m fault-401")
    assert run.reply["status"] == "error"
    assert run.error["ename"] == "AuthError"
    assert "401 from" in run.error["traceback"][0] and "hint:" in run.error["traceback"][0]
    assert SECRET_KEY not in run.everything
    assert len(log.records) == 1
    assert thread_of(kernel, "auth") == []


def test_an_unknown_model_error_lists_the_servers_models(kernel) -> None:
    run = chat(kernel, "hi", "-m gpt-nope")
    assert run.error["ename"] == "ModelNotFoundError"
    assert "nbstream-demo" in run.error["traceback"][0]


def test_interrupt_mid_stream_keeps_the_partial_reply_and_closes(kernel, log) -> None:
    msg_id = kernel.start('%%chat -t intr -p nbstream=\'{"tokens": 1000, "rate": 20}\'\nlong story')
    # Interrupt once the kernel shows text, not once the server has sent some (it may be
    # unread): then there is a partial reply to keep.
    kernel.wait_for_output(msg_id, "\nstreaming · ", HANG)
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=HANG)  # the whole reply would take 50 s
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert log.records[-1].chunks_sent < 1000
    assert run.error["ename"] == "KeyboardInterrupt"
    assert "interrupted after" in run.final["data"]["text/plain"]
    assert run.final["metadata"]["nbstream"]["status"] == "interrupted"
    assert thread_of(kernel, "intr", "e.result.status.value") == ["interrupted"]
    assert chat(kernel, "next", "-t intr", text="fine").reply["status"] == "ok"
    assert log.records[-1].body["messages"][1]["role"] == "assistant"  # partial text is sent


def test_interrupt_before_the_first_token_records_nothing(kernel, log) -> None:
    msg_id = kernel.start("%%chat -t early -p nbstream='{\"first_token_delay\": 30}'\nwait for it")
    assert log.wait_for(lambda r: bool(r), HANG)
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=HANG)  # the first token would come after 30 s
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert log.records[-1].chunks_sent == 0
    assert "waiting" not in run.final["data"]["text/plain"]
    assert thread_of(kernel, "early") == []


def test_a_dropped_stream_is_shown_whole_kept_then_fails_the_cell(kernel) -> None:
    run = chat(kernel, "hi", "-t drop -m fault-disconnect", tokens=4)
    assert run.reply["status"] == "error" and run.error["ename"] == "IncompleteError"
    shown = run.final["data"]["text/plain"]
    assert "connection lost after" in shown and shown.count(" ") > 3  # the partial reply
    assert run.error["traceback"][0].startswith("IncompleteError: incomplete reply: connection")
    assert "--allow-incomplete" in run.error["traceback"][0]
    assert thread_of(kernel, "drop", "e.result.status.value") == ["incomplete"]
    assert value(kernel, "_chat.status.value") == "incomplete"


def test_allow_incomplete_carries_on_from_the_option_or_the_config(kernel) -> None:
    run = chat(kernel, "hi", "-t allow --allow-incomplete -m fault-no-finish", tokens=4)
    assert run.reply["status"] == "ok" and "stream ended early" in run.final["data"]["text/plain"]
    kernel.execute("%config NbStream.allow_incomplete = True")
    try:
        assert chat(kernel, "hi", "-t allow -m fault-disconnect").reply["status"] == "ok"
    finally:
        kernel.execute("%config NbStream.allow_incomplete = False")


def test_stopped_by_max_tokens_or_filtered_is_complete_and_the_cell_succeeds(kernel) -> None:
    for model, why in (("fault-length", "max tokens"), ("fault-content-filter", "filter")):
        run = chat(kernel, "hi", f"--no-history -m {model}", tokens=3)
        assert run.reply["status"] == "ok" and why in run.final["data"]["text/plain"]


def test_an_error_shows_its_message_once(kernel) -> None:
    run = chat(kernel, "hi", "-t once -m gpt-nope")
    assert run.reply["status"] == "error"
    seen = run.final["data"]["text/plain"] + run.text + "\n".join(run.error["traceback"])
    assert seen.count("The model `gpt-nope` does not exist") == 1
    assert "✖ failed" in run.final["data"]["text/plain"]


@pytest.mark.parametrize("line", ["%%chat --help\nhello", "%%chat -h -t x\nhello", "%chat --help",
                                  "%chat -h"])  # fmt: skip
def test_help_prints_the_options_and_sends_nothing(kernel, log, line: str) -> None:
    before = thread_of(kernel, "default")
    run = kernel.execute(line)
    assert run.reply["status"] == "ok"
    assert run.text.startswith("%%chat [-m MODEL]") and "--allow-incomplete" in run.text
    assert "%chat SUBCOMMAND" in run.text
    assert log.records == [] and thread_of(kernel, "default") == before


def test_subcommands(kernel, tmp_path) -> None:
    chat(kernel, "hello", "-t sub", text="hi there")
    history = kernel.execute("%chat history -t sub").final["data"]["text/plain"]
    assert "hello" in history and "hi there" in history
    assert "sub" in kernel.execute("%chat threads").final["data"]["text/plain"]
    usage = kernel.execute("%chat usage").final["data"]["text/plain"]
    assert "nbstream-demo" in usage
    config = kernel.execute("%chat config").final["data"]["text/plain"]
    assert "sk-…cdef" in config and SECRET_KEY not in config
    assert "None" not in config and "azure_endpoint" not in config
    assert "nbstream-demo" in kernel.execute("%chat models").final["data"]["text/plain"]
    out = tmp_path / "sub.md"
    assert "wrote" in kernel.execute(f"%chat export -t sub {out}").text
    assert "hi there" in out.read_text()
    assert "removed" in kernel.execute("%chat undo -t sub").text
    run = kernel.execute("%chat nonsense")
    assert run.reply["status"] == "error" and "history, threads" in run.text


def test_out_and_underscore_chat_hold_the_result(kernel) -> None:
    chat(kernel, "hi", "--out answer --no-history", text="forty-two")
    assert value(kernel, "(answer.text, _chat.text, answer.usage.completion_tokens)") == [
        "forty-two", "forty-two", 1,
    ]  # fmt: skip


def test_state_survives_a_kernel_restart(server: OfflineServer, tmp_path: Path) -> None:
    env = clean_env(
        OPENAI_BASE_URL=server.url,
        OPENAI_API_KEY=SECRET_KEY,
        NBSTREAM_MODEL="nbstream-demo",
        JPY_SESSION_NAME=str(tmp_path / "analysis.ipynb"),
    )
    kernel = Kernel(env, cwd=tmp_path)
    try:
        kernel.execute("%load_ext nbstream")
        chat(kernel, "remember me", text="I will.")
        state = tmp_path / ".nbstream" / "conversations.sqlite"
        assert state.exists() and state.stat().st_mode & 0o777 == 0o600
        assert SECRET_KEY.encode() not in state.read_bytes()
        kernel.restart()
        loaded = kernel.execute("%load_ext nbstream")
        assert "restored 1 turn from" in loaded.text
        assert "remember me" in kernel.execute("%chat history").final["data"]["text/plain"]
    finally:
        kernel.shutdown()


def test_a_corrupt_state_file_is_set_aside_with_a_warning(server, tmp_path: Path) -> None:
    (tmp_path / ".nbstream").mkdir()
    (tmp_path / ".nbstream" / "nb.json").write_text("{not json")
    env = clean_env(
        OPENAI_BASE_URL=server.url,
        NBSTREAM_MODEL="nbstream-demo",
        JPY_SESSION_NAME=str(tmp_path / "nb.ipynb"),
    )
    kernel = Kernel(env, cwd=tmp_path)
    try:
        run = kernel.execute("%load_ext nbstream")
        assert run.reply["status"] == "ok" and "set aside" in run.text
        assert any(
            p.name.startswith("nb.json.corrupt-") for p in (tmp_path / ".nbstream").iterdir()
        )
    finally:
        kernel.shutdown()


def test_no_key_and_no_url_falls_back_to_the_offline_server(tmp_path: Path) -> None:
    kernel = Kernel(clean_env(), cwd=tmp_path)
    try:
        kernel.execute("%load_ext nbstream")
        run = kernel.execute("%%chat\nHello offline")
        assert run.reply["status"] == "ok"
        plain = run.final["data"]["text/plain"]
        assert "offline demo server at http://127.0.0.1:" in plain
        assert "Offline demo reply" in plain and plain.endswith("finished · offline demo")
        again = kernel.execute("%%chat\nAgain").final["data"]["text/plain"]
        assert "offline demo server at" not in again and again.endswith("· offline demo")
    finally:
        kernel.shutdown()


def test_a_very_long_fast_reply_is_throttled_in_rate_and_bytes(kernel) -> None:
    run = chat(kernel, "Go", "-t long --no-history", tokens=10_000, rate=2_000)
    assert run.reply["status"] == "ok"
    # Bounds against the cell's whole span, which encloses the kernel's own time: a busy
    # machine lengthens it, so it loosens them and never fails them. The Throttle itself is
    # tested against a fake clock in test_rendering.py; the 1 s peaks in bench_stream.py.
    assert 10 <= len(run.outputs) <= 10 * run.span + 3
    sizes = [len(json.dumps(c)) for _, _, c in run.outputs]
    assert sum(sizes) <= 500_000 * run.span
    assert "10000 tokens" in run.final["data"]["text/plain"]


def test_a_rate_limit_shows_a_retry_status_then_the_stream(kernel, log, fault_key) -> None:
    # The status shows from the 429 until the retry's first token, which the server holds back
    # 4 s: 5 s for a busy kernel to draw it.
    run = chat(kernel, "hi", "--no-history", text="done", fail_status=429, retry_after="1",
               first_token_delay=4, key=fault_key)  # fmt: skip
    texts = [c["data"]["text/plain"] for c in run.of("display_data", "update_display_data")]
    assert any("rate limited, retrying in 1 s" in t for t in texts)
    assert "rate limited" not in run.final["data"]["text/plain"]
    assert [r.status for r in log.records] == [429, 200]


def test_no_stream_quiet_and_text_formats(kernel, log) -> None:
    run = chat(kernel, "hi", "--no-history --no-stream --quiet", text="whole *reply*")
    assert log.records[-1].stream is False
    assert run.final["data"]["text/plain"] == "whole *reply*"
    run = chat(kernel, "hi", "--no-history --format text", text="as *text*")
    assert set(run.final["data"]) == {"text/plain"}


def test_code_format_puts_the_code_in_the_next_cell(kernel) -> None:
    text = "Here:\n```python\nprint('hi')\n```\nand\n```\nx = 1\n```\n"
    run = chat(kernel, "code please", "--no-history --format code", text=text)
    payloads = run.reply.get("payload", [])
    assert [p["text"] for p in payloads if p["source"] == "set_next_input"] == [
        "print('hi')\n\nx = 1"
    ]


def test_each_runs_the_template_once_per_element(kernel, log) -> None:
    kernel.execute("cities = ['Lisbon', 'Osaka', 'Quito']")
    run = chat(kernel, "One line about {item} (#{index}).", "--each cities", tokens=5)
    assert run.reply["status"] == "ok"
    sent = sorted(r.body["messages"][-1]["content"] for r in log.records)
    assert sent == [
        "One line about Lisbon (#0).", "One line about Osaka (#1).", "One line about Quito (#2).",
    ]  # fmt: skip
    assert "3/3 requests" in run.final["data"]["text/plain"]
    assert value(kernel, "[r.status.value for r in _chat]") == ["complete"] * 3
    bad = chat(kernel, "x", "--each nothing_here")
    assert bad.reply["status"] == "error" and "not a list" in bad.text


def test_compare_streams_side_by_side_then_a_table_and_branches(kernel, log) -> None:
    run = chat(kernel, "Same question", "-t cmp --compare nbstream-demo,fault-length", tokens=6)
    assert run.reply["status"] == "ok"
    assert {r.model for r in log.records} == {"nbstream-demo", "fault-length"}
    grid, table = run.of("display_data")[-2:]
    assert "grid-template-columns:repeat(2" in grid["data"]["text/html"]
    assert table["data"]["text/markdown"].startswith("| model | first token")
    follow = chat(kernel, "Go on", "-t cmp@fault-length", text="ok")
    assert follow.reply["status"] == "ok"
    sent = log.records[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert (sent[0]["content"], sent[2]["content"]) == ("Same question", "Go on")


def test_a_reply_past_one_segment_goes_on_in_new_outputs_at_paragraph_breaks(kernel) -> None:
    text = "".join(f"Paragraph {i} " + "lorem ipsum " * 40 + "\n\n" for i in range(200)).strip()
    run = chat(kernel, "Go", "--no-history", text=text, rate=0)
    displays = run.of("display_data", "update_display_data")
    assert max(len(json.dumps(d["data"])) for d in displays) <= 100_000
    finals = final_outputs(run)
    parts = [d["data"]["text/plain"] for d in finals]
    assert len(parts) >= 3
    footer = parts[-1].rsplit("\n", 1)[1]
    assert footer.startswith("nbstream-demo · ")
    shown = " ".join([*parts[:-1], parts[-1].rsplit("\n", 1)[0]])
    assert shown.split() == text.split()  # each output holds whole paragraphs, in order
    assert "nbstream" in finals[-1]["metadata"]


def test_one_long_code_block_goes_on_in_new_outputs_each_under_100_kb(kernel) -> None:
    code = "".join(f"print({i}, '*not markdown*')  # line {i}\n" for i in range(2500))
    text = "```python\n" + code + "```"
    run = chat(kernel, "Go", "--no-history", text=text, rate=0)
    displays = run.of("display_data", "update_display_data")
    assert max(len(json.dumps(d["data"], ensure_ascii=False).encode()) for d in displays) <= 100_000
    outputs = final_outputs(run)
    assert len(outputs) >= 3
    assert all(o["data"]["text/markdown"].startswith("```python\n") for o in outputs)
    parts = [o["data"]["text/plain"] for o in outputs]
    parts[-1] = parts[-1].rsplit("\n", 1)[0]  # the footer
    assert "\n".join(parts) == text  # cut between lines: the plain text reads as the reply


def test_interrupting_twice_still_leaves_a_final_output_and_a_usable_kernel(kernel, log) -> None:
    msg_id = kernel.start('%%chat -t twice -p nbstream=\'{"tokens": 1000, "rate": 20}\'\nlong')
    assert log.wait_for(lambda r: bool(r) and r[-1].chunks_sent >= 5, HANG)
    kernel.manager.interrupt_kernel()
    time.sleep(0.05)
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id)
    # The second interrupt may land while IPython reports the first: then it prints it.
    assert (run.error or {}).get("ename") == "KeyboardInterrupt" or "KeyboardInterrupt" in run.text
    assert log.wait_for(lambda r: r[-1].outcome == "disconnected", HANG)
    assert "interrupted after" in run.final["data"]["text/plain"]
    assert chat(kernel, "again", "-t twice", text="fine").reply["status"] == "ok"


def test_unload_removes_the_magics_and_load_brings_them_back(server, tmp_path: Path) -> None:
    env = clean_env(OPENAI_BASE_URL=server.url, NBSTREAM_MODEL="nbstream-demo")
    kernel = Kernel(env, cwd=tmp_path)
    try:
        kernel.execute("%load_ext nbstream")
        kernel.execute("%unload_ext nbstream")
        gone = kernel.execute("%%chat\nhi")
        assert gone.reply["status"] == "error" and "not found" in gone.text
        kernel.execute("%load_ext nbstream")
        back = kernel.execute('%%chat -p nbstream=\'{"text": "back"}\'\nhi')
        assert back.reply["status"] == "ok"
    finally:
        kernel.shutdown()


def test_load_ext_imports_the_sdk_in_the_background_before_any_turn(server, tmp_path) -> None:
    """The first turn should not wait for the SDK's imports: `%load_ext` starts them."""
    kernel = Kernel(clean_env(OPENAI_BASE_URL=server.url), cwd=tmp_path)
    try:
        kernel.execute("%load_ext nbstream")
        wait = (
            "import sys, time\n"
            f"deadline = time.monotonic() + {HANG}\n"
            "while 'openai.resources.chat' not in sys.modules and time.monotonic() < deadline:\n"
            "    time.sleep(0.05)\n"
            "print(sorted(m for m in ('openai', 'openai.resources.chat') if m in sys.modules))"
        )
        assert "['openai', 'openai.resources.chat']" in kernel.execute(wait).text
    finally:
        kernel.shutdown()
