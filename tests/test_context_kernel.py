"""Context in a real kernel: each cell's error, `%chat fix`, `{In[n]}` as typed, `-a`."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import SECRET_KEY
from .kernels import Kernel, clean_env

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(server, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("context"))
    assert started.execute("1 / 0").error is not None  # cell 1: before the extension
    assert started.execute("%load_ext nbstream").reply["status"] == "ok"  # cell 2
    yield started
    started.shutdown()


def last_prompt(server) -> str:
    content = server.log.records[-1].body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def test_chat_fix_sends_the_failed_cell_and_its_traceback_without_colour(kernel, server) -> None:
    failed = kernel.execute("def ratio(a, b):\n    return a / b\n\nratio(1, 0)")
    assert failed.error["ename"] == "ZeroDivisionError"
    count = failed.reply["execution_count"]
    run = kernel.execute("%chat fix")
    assert run.reply["status"] == "ok", run.text
    sent = last_prompt(server)
    assert f"Cell {count} of my notebook failed" in sent
    assert "ratio(1, 0)" in sent and "ZeroDivisionError: division by zero" in sent
    assert "return a / b" in sent and "\x1b[" not in sent
    assert kernel.execute(f"%chat fix {count}").reply["status"] == "ok"
    assert f"Cell {count} of my notebook failed" in last_prompt(server)


def test_err_n_names_a_cell_and_err_the_last_one(kernel, server) -> None:
    count = kernel.execute("{}['missing']").reply["execution_count"]
    kernel.execute("ok = 1")
    run = kernel.execute(f"%%chat --no-history\nFirst {{Err[{count}]}} then {{Err}}")
    assert run.reply["status"] == "ok", run.text
    sent = last_prompt(server)
    assert sent.count("KeyError: 'missing'") == 2


def test_an_error_from_before_load_ext_is_missing_and_says_so(kernel, server) -> None:
    run = kernel.execute("%%chat --no-history\nWhy {Err[1]}")
    assert "ran before %load_ext nbstream" in run.text
    assert last_prompt(server) == "Why {Err[1]}"
    fix = kernel.execute("%chat fix 1")
    assert fix.reply["status"] == "error"  # IPython shows a UsageError as one line
    assert "UsageError: %chat fix: cell 1 ran before %load_ext nbstream" in fix.text


def test_a_user_variable_named_err_wins(kernel, server) -> None:
    kernel.execute("Err = 'my own Err'")
    kernel.execute("%%chat --no-history\nsee {Err}")
    assert last_prompt(server) == "see my own Err"
    kernel.execute("del Err")


def test_in_n_is_what_the_user_typed(kernel, server) -> None:
    count = kernel.execute("%%chat --no-history\nfirst prompt").reply["execution_count"]
    kernel.execute(f"%%chat --no-history\nagain: {{In[{count}]}}")
    assert last_prompt(server) == "again: %%chat --no-history\nfirst prompt"


def test_attach_sends_a_file_and_a_figure_with_the_prompt(kernel, server, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\nthe plot dips on Tuesday")
    kernel.execute(
        "import matplotlib; matplotlib.use('agg'); import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(); ax.plot([3, 1, 2]);"
    )
    run = kernel.execute(f"%%chat --no-history -a {tmp_path / 'notes.md'}\nwhy does {{fig}} dip?")
    assert run.reply["status"] == "ok", run.text
    content = server.log.records[-1].body["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url"]
    assert "the plot dips on Tuesday" in content[0]["text"]
    assert "1 image (≈" in run.final["data"]["text/plain"]
    assert "1 file (notes.md)" in run.final["data"]["text/plain"]


INSERT_CELL = """%%chat --no-history --insert -p nbstream='{"echo": true}'
Here:
```python
x = 1
```
and then
```
print(x)
```"""


def test_insert_sends_the_code_blocks_as_one_next_input_payload_every_run(kernel) -> None:
    for _ in range(2):  # re-running inserts again, as %load does
        run = kernel.execute(INSERT_CELL)
        assert run.reply["status"] == "ok", run.text
        (payload,) = run.reply["payload"]
        assert payload["source"] == "set_next_input"
        assert payload["text"] == "x = 1\n\nprint(x)" and payload["replace"] is False
        # The test client, like nbclient, sends allow_stdin false: no front end adds the cell.
        assert "nothing inserted: this run has no front end" in run.text


def test_insert_from_a_front_end_says_nothing_and_no_code_says_so(kernel) -> None:
    msg_id = kernel.client.execute(INSERT_CELL, allow_stdin=True)
    run = kernel.collect(msg_id)
    reply = kernel.client.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["payload"][0]["text"] == "x = 1\n\nprint(x)"
    assert "nothing inserted" not in run.text
    plain = kernel.execute("%%chat --no-history --insert -p nbstream='{\"echo\": true}'\nno code")
    assert plain.reply["payload"] == [] and "the reply has no code block" in plain.text


def test_schema_in_a_cell_gives_the_parsed_object_in_chat_result(kernel, server) -> None:
    kernel.execute(
        "from pydantic import BaseModel\nclass City(BaseModel):\n    name: str\n    people: int"
    )
    run = kernel.execute("%%chat --no-history --schema City\nThe largest city?")
    assert run.reply["status"] == "ok", run.text
    assert server.log.records[-1].body["response_format"]["json_schema"]["name"] == "City"
    shown = kernel.execute("print(repr(_chat.parsed))")
    assert shown.text.strip() == "City(name='example', people=1)"
    bad = kernel.execute("%%chat --no-history --schema nope\nx")
    assert "UsageError: --schema nope: not a pydantic model" in bad.text


def test_history_shows_an_attached_image_as_its_placeholder(kernel, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (40, 30), "blue").save(tmp_path / "dot.png")
    run = kernel.execute(f"%%chat -t pictures -a {tmp_path / 'dot.png'}\nwhat colour?")
    assert run.reply["status"] == "ok", run.text
    shown = kernel.execute("%chat history -t pictures").everything
    assert "[image 1: image 40\\u00d730 PNG" in shown and "base64" not in shown  # JSON-escaped ×


def sent_colour(server) -> tuple[int, int, int]:
    """The colour of the top-left pixel of the one image the last request sent."""
    from PIL import Image

    (part,) = server.log.records[-1].body["messages"][-1]["content"][1:]
    data = base64.b64decode(part["image_url"]["url"].partition(",")[2])
    return Image.open(io.BytesIO(data)).convert("RGB").getpixel((1, 1))


RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 128, 0)


def test_fig_without_a_variable_is_the_last_figure_shown(server, tmp_path: Path) -> None:
    env = clean_env(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY,
                    NBSTREAM_MODEL="nbstream-demo", MPLBACKEND="agg")  # fmt: skip
    kernel = Kernel(env, cwd=tmp_path)
    try:
        assert kernel.execute("%load_ext nbstream").reply["status"] == "ok"
        ask = "%%chat --no-history\nwhat is {fig}?"
        # Agg shows nothing by itself: pyplot's open figure is the one.
        kernel.execute("import matplotlib.pyplot as plt\nplt.figure(facecolor='red').add_subplot()")
        assert kernel.execute(ask).reply["status"] == "ok"
        assert sent_colour(server) == RED
        # A figure displayed (here a cell's value) wins over one merely open.
        kernel.execute("plt.figure(facecolor='blue')")
        kernel.execute("plt.figure(facecolor='green').add_subplot();")
        kernel.execute(ask)
        assert sent_colour(server) == BLUE
        # The inline backend closes its figures after the cell; the one it showed is sent.
        kernel.execute("%matplotlib inline")
        shown = kernel.execute("plt.figure(facecolor='green').add_subplot().plot([1, 2]);")
        assert (
            shown.of("display_data")
            and kernel.execute("print(plt.get_fignums())").text.strip() == "[]"
        )
        kernel.execute(ask)
        assert sent_colour(server) == GREEN
        kernel.execute("fig = 'my own fig'")  # a variable of the user's wins
        kernel.execute(ask)
        assert server.log.records[-1].body["messages"][-1]["content"] == "what is my own fig?"
    finally:
        kernel.shutdown()
