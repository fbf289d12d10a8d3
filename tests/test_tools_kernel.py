"""Tools in real kernels: `%%chat --tools`, approval without stdin, interrupts mid-loop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nbstream.offline.server import OfflineServer

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

pytestmark = pytest.mark.kernel

TOOLS = '''
import json, nbstream, pathlib, time
calls = []

@nbstream.tool(safe=True)
def weather(city: str) -> str:
    """The weather in a city."""
    calls.append(city)
    print(f"looking up {city}")
    return f"sunny in {city}"

def remove(path: str) -> str:
    """Delete a file."""
    calls.append(path)
    return "removed"

def slow(city: str) -> str:
    """Takes its time."""
    pathlib.Path("started").write_text("yes")
    time.sleep(600)
    return "late"
'''


@pytest.fixture(scope="module")
def kernel(server: OfflineServer, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("tools"))
    started.execute("%load_ext nbstream")
    started.execute(TOOLS)
    yield started
    started.shutdown()


TWO_CALLS = "%%chat --tools remove,weather -p nbstream='{\"tool_calls\": 2}'\nClean up"


def value(kernel: Kernel, expression: str):
    run = kernel.execute(f"import json as _j; print(_j.dumps({expression}))")
    return json.loads(run.text)


def test_a_cell_runs_its_tool_shows_the_round_folded_and_counts_it(kernel, log) -> None:
    kernel.execute("calls.clear()")
    run = kernel.execute("%%chat -t weather --tools weather\nWeather in Paris?")
    assert run.reply["status"] == "ok"
    assert value(kernel, "calls") == ["Paris"]
    assert "looking up Paris" in run.text  # the tool's own print goes to the cell
    final = run.final["data"]
    assert "<details><summary>🔧 weather  ✓" in final["text/markdown"]
    assert "sunny in Paris" in final["text/markdown"]
    assert "1 tool call in 1 round" in final["text/plain"]
    assert run.final["metadata"]["nbstream"]["status"] == "complete"
    roles = value(kernel, "[m['role'] for m in nbstream.Chat(thread='weather').history]")
    assert roles == ["user", "assistant", "tool", "assistant"]


def test_achat_in_a_cell_runs_its_tools_on_the_main_thread(kernel, log) -> None:
    kernel.execute("calls.clear()")
    run = kernel.execute("r = await nbstream.achat('Weather?', tools=[weather])\nprint(r.text)")
    assert run.reply["status"] == "ok"
    assert "sunny in Paris" in run.text
    assert value(kernel, "calls") == ["Paris"]


def test_an_unknown_tools_name_is_one_line(kernel, log) -> None:
    run = kernel.execute("%%chat --tools nowhere\nhi")
    assert "UsageError: %%chat --tools: no 'nowhere' in the notebook" in run.text
    assert log.records == []


def test_without_stdin_a_cell_denies_the_call(kernel, log) -> None:
    kernel.execute("calls.clear()")
    run = kernel.execute("%%chat --no-history --tools remove\nClean up")  # allow_stdin False
    assert run.reply["status"] == "ok"
    assert value(kernel, "calls") == []
    assert "⊘ denied" in run.final["data"]["text/markdown"]
    sent = [m for m in log.records[-1].body["messages"] if m["role"] == "tool"]
    assert sent[0]["content"].startswith("denied")


def test_input_under_nbclient_fails_closed(server: OfflineServer, tmp_path: Path, log) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext nbstream"),
        nbformat.v4.new_code_cell(TOOLS),
        nbformat.v4.new_code_cell(TWO_CALLS),
        nbformat.v4.new_code_cell("print('calls', calls)"),
    ]
    client = NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    with pytest.MonkeyPatch.context() as patch:  # the kernel nbclient starts inherits these
        patch.setenv("OPENAI_BASE_URL", server.url)
        patch.setenv("OPENAI_API_KEY", SECRET_KEY)
        patch.setenv("NBSTREAM_MODEL", "nbstream-demo")
        client.execute()
    printed = notebook.cells[3].outputs[0]["text"]
    assert printed.strip() == "calls ['Paris']"  # the safe one ran; the other was denied
    tools = [m for m in log.records[-1].body["messages"] if m["role"] == "tool"]
    assert [t["content"].split(":")[0] for t in tools] == ["denied", "sunny in Paris"]


def test_interrupt_mid_loop_keeps_the_round_flagged(kernel, log) -> None:
    cwd = Path(kernel.cwd or ".")
    msg_id = kernel.start("%%chat -t slow --tools slow --approve auto\nGo slowly")
    started = cwd / "started"
    assert log.wait_for(lambda r: bool(r) and r[0].outcome == "complete", HANG)
    waited = 0.0
    while not started.exists() and waited < HANG:
        time.sleep(0.05)
        waited += 0.05
    assert started.exists()
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=HANG)
    assert run.error["ename"] == "KeyboardInterrupt"
    final = run.final
    assert final["metadata"]["nbstream"]["status"] == "interrupted"
    assert "■ interrupted" in final["data"]["text/markdown"]
    kept = value(
        kernel,
        "[(e.result.status.value, [r.outcome.value for x in e.result.tool_rounds for r in x.runs])"
        " for e in nbstream.session.current().store.thread('slow').exchanges]",
    )
    assert kept == [["interrupted", ["interrupted"]]]
    assert len(log.records) == 1  # nothing was sent after the interrupt


def until(kernel: Kernel, expression: str, wanted: object) -> None:
    """Run short cells until `expression` is `wanted`: between them, no cell runs."""
    deadline = time.monotonic() + HANG
    while value(kernel, expression) != wanted:
        assert time.monotonic() < deadline, f"{expression} never became {wanted!r}"
        time.sleep(0.1)


FIND = """
def find(widget, css_class):
    here = [widget] if css_class in getattr(widget, '_dom_classes', ()) else []
    return here + [w for child in getattr(widget, 'children', ()) for w in find(child, css_class)]
"""


def test_a_panel_turn_runs_its_tool_when_no_cell_runs(kernel, log) -> None:
    kernel.execute("calls.clear(); panel = nbstream.ChatPanel('between', tools=[weather])")
    kernel.execute("panel.send('Weather in Paris?')")  # returns at once: the turn goes on
    until(kernel, "panel.state.value", "idle")
    assert value(kernel, "calls") == ["Paris"]
    assert "sunny in Paris" in value(kernel, "panel.last.text")
    kernel.execute(FIND)
    shown = "[o['text'] for o in find(panel.widget, 'nbstream-tool-prints')[0].outputs]"
    assert value(kernel, shown) == ["looking up Paris", "\n"]  # the tool's print, in the panel
    tools = [m for m in log.records[-1].body["messages"] if m["role"] == "tool"]
    assert [t["content"] for t in tools] == ["sunny in Paris"]


BUSY = """
panel = nbstream.ChatPanel('busy', tools=[weather])
calls.clear()
panel.send('Weather in Paris?')
for _ in range(400):  # the cell keeps the kernel busy until the call shows it waits
    if 'waiting for the kernel' in panel._view.body.value:
        break
    time.sleep(0.05)
print(json.dumps([calls, 'waiting for the kernel' in panel._view.body.value]))
"""


def test_a_panel_tool_call_waits_for_a_busy_cell_then_runs(kernel, log) -> None:
    run = kernel.execute(BUSY)
    assert json.loads(run.text) == [[], True]  # shown waiting, not run, while the cell ran
    until(kernel, "panel.state.value", "idle")
    assert value(kernel, "calls") == ["Paris"]
    kernel.execute(FIND)
    assert "🔧 weather  ✓" in value(kernel, "find(panel.widget, 'nbstream-assistant')[-1].value")


OFF_MAIN = """
import asyncio, threading

@nbstream.tool(safe=True)
def where(city: str) -> str:
    \"\"\"The thread the tool runs on.\"\"\"
    return threading.current_thread().name

answers = []
turn = lambda: asyncio.run(nbstream.achat('Where?', tools=[where], show=False))
threading.Thread(target=lambda: answers.append(turn().text)).start()
"""


def test_achat_awaited_on_another_thread_runs_its_tool_on_the_main_thread(kernel, log) -> None:
    kernel.execute(OFF_MAIN)
    until(kernel, "len(answers)", 1)
    assert "MainThread" in value(kernel, "answers[0]")


#: A token every 2 s: the call takes 4 s, the answer after it (12 tokens) 22 s, so the
#: interrupt lands while it streams, however busy the machine.
SLOW_ANSWER = "%%chat -t later --tools weather -p nbstream='{\"rate\": 0.5}'\nWeather in Paris?"
#: What the cell shows once the answer's first token is read: the tool's result, then "The".
ANSWER_BEGUN = "sunny in Paris\n\nThe"


def test_interrupt_while_round_two_streams_keeps_round_one_and_the_partial_answer(
    kernel, log
) -> None:
    msg_id = kernel.start(SLOW_ANSWER)
    # Once the kernel shows the answer's first text: there is a partial answer to keep.
    kernel.wait_for_output(msg_id, ANSWER_BEGUN, HANG)
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=HANG)
    assert run.error["ename"] == "KeyboardInterrupt"
    assert run.final["metadata"]["nbstream"]["status"] == "interrupted"
    kept = value(
        kernel,
        "[(e.result.status.value, e.result.text, [(r.outcome.value, r.output) for x in"
        " e.result.tool_rounds for r in x.runs]) for e in"
        " nbstream.session.current().store.thread('later').exchanges]",
    )
    [(status, partial, runs)] = kept
    assert (status, runs) == ("interrupted", [["ok", "sunny in Paris"]])
    assert partial.startswith("The")
    assert log.wait_for(lambda r: r[1].outcome == "disconnected", HANG)
    after = kernel.execute("%%chat -t later\nAnd tomorrow?")
    assert after.reply["status"] == "ok"
    assert log.records[-1].outcome == "complete"  # the server's validation took the history
    sent = log.records[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[3]["content"] == partial  # round 2's partial answer, as kept
