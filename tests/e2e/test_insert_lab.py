"""`%%chat --insert` in JupyterLab 4, in a real browser: the reply's code lands in a new cell
below, never run, and running the cell again inserts again."""

from __future__ import annotations

import time

import pytest

from .conftest import JupyterServer, Notebook, chat_cell

pytestmark = pytest.mark.e2e

REPLY = "Here:\n```python\nx = 1\n```\nand then\n```\nprint(x)\n```"
CODE = "x = 1\n\nprint(x)"


def wait_for_cells(nb: Notebook, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while nb.cells().count() != count:
        assert time.monotonic() < deadline, f"{nb.cells().count()} cells, not {count}"
        nb.page.wait_for_timeout(50)


def test_insert_puts_the_replys_code_in_a_new_cell_below_without_running_it(
    page, jupyter: JupyterServer
) -> None:
    name = "insert.ipynb"
    ask = chat_cell("Give me the code.", text=REPLY).replace("%%chat", "%%chat --insert", 1)
    jupyter.write_notebook(name, "%load_ext nbstream", ask, "# the end")
    nb = Notebook(page, jupyter, name).open(cells=3)
    nb.run_and_wait(0)
    shown = nb.run_and_wait(1)
    assert "nothing inserted" not in shown["text"]  # a front end that adds cells says nothing
    wait_for_cells(nb, 4)
    nb.run_and_wait(1)  # again, as %load does: a second cell, right below the magic
    wait_for_cells(nb, 5)
    assert nb.read(2)["prompt"] in ("[ ]:", "")  # inserted, never run
    nb.save()
    cells = jupyter.read_notebook(name).cells
    assert [c.source for c in cells[2:]] == [CODE, CODE, "# the end"]
    assert [c.get("execution_count") for c in cells[2:4]] == [None, None]
    assert [c.outputs for c in cells[2:4]] == [[], []]
