"""`%%chat` in Notebook 7 (served at /notebooks/ by the same Jupyter server), in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import (
    IOPUB_LIMIT,
    JupyterServer,
    Notebook,
    assert_grows_in_place,
    chat_cell,
    footer,
)

pytestmark = pytest.mark.e2e


def test_a_slow_stream_grows_in_place_and_ends_with_the_footer_in_notebook_7(
    page, jupyter: JupyterServer, artifacts: Path
) -> None:
    jupyter.write_notebook(
        "nb7.ipynb",
        "%load_ext nbstream",
        # 6 s of streaming: the display's states come at most 10 a second, so they grow in
        # number with the reply's length in time.
        chat_cell("Stream slowly.", tokens=60, rate=10),
        "",
    )
    nb = Notebook(page, jupyter, "nb7.ipynb", ui="notebook").open(cells=3)
    assert page.evaluate("document.body.dataset.notebook") == "notebooks", "not Notebook 7"
    nb.run_and_wait(0)
    nb.start_sampler(1)
    nb.run(1)
    final = nb.wait_done(1, timeout=60)
    states = nb.stop_sampler()
    nb.screenshot(nb.cell(1), artifacts / "notebook7-chat-cell.png")

    assert_grows_in_place(states, final, least=3)
    match = footer(final)
    assert (match["tokens"], match["ending"]) == ("60", "finished"), final["last"]
    assert len(final["reply"].split()) == 60
    assert nb.cell(1).locator(".jp-OutputArea-output").count() == 1
    assert IOPUB_LIMIT not in nb.page_text()
