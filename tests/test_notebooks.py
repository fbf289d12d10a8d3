"""The notebooks in notebooks/ run headless, offline, and save outputs that need no kernel."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import nbformat
import pytest

from nbstream.offline.demo import run_demo

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
pytestmark = pytest.mark.kernel


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_the_saved_notebooks_hold_no_widget_state_and_no_widget_views(path: Path) -> None:
    # Widget state is a snapshot of a kernel that is gone: reopened, it shows a stale panel or
    # "model not found". What a notebook keeps is the display outputs, the panel's transcript.
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {})


def test_the_quickstart_runs_offline_and_saves_replies_with_footers(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-used-0123456789")
    echoed = io.StringIO()
    saved = run_demo(NOTEBOOKS / "quickstart.ipynb", tmp_path / "out.ipynb", out=echoed)
    nb = nbformat.read(saved, as_version=4)
    replies = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "nbstream" in output.get("metadata", {})
    ]
    assert len(replies) == 6
    for output in replies:
        assert set(output["data"]) == {"text/markdown", "text/plain"}
        assert "first token" in output["data"]["text/plain"]
        assert "⏳" not in output["data"]["text/plain"]
        assert output["metadata"]["nbstream"]["status"] == "complete"
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    [tool_reply] = [o for o in replies if "🔧 column\\_stats  ✓" in o["data"]["text/markdown"]]
    assert "bill_length_mm: mean 43.9 over 344 rows" in tool_reply["data"]["text/plain"]
    assert "1 tool call in 1 round" in tool_reply["data"]["text/plain"]
    assert "sk-must-not-be-used" not in json.dumps(nb)
    text = echoed.getvalue()
    assert "Offline demo reply" in text and "· offline demo" in text
    _assert_reads_as_a_transcript(text, nb)


def _assert_reads_as_a_transcript(text: str, nb: nbformat.NotebookNode) -> None:
    """Every code cell echoed whole and numbered in execution order; a blank line before each
    footer, as in the notebook."""
    code = [cell.source.strip() for cell in nb.cells if cell.cell_type == "code" and cell.source]
    for number, source in enumerate(code, start=1):
        prompt = f"In [{number}]: "
        echoed = source.replace("\n", "\n" + "...: ".rjust(len(prompt)))
        assert f"\n{prompt}{echoed}\n" in text
    assert f"In [{len(code) + 1}]" not in text
    footers = [line for line in text.splitlines() if line.startswith("nbstream-demo · ")]
    assert len(footers) == 6
    lines = text.splitlines()
    assert all(lines[lines.index(f) - 1] == "" for f in footers)


def test_the_concurrency_notebook_runs_every_cell_offline(tmp_path: Path) -> None:
    saved = run_demo(NOTEBOOKS / "concurrency.ipynb", tmp_path / "out.ipynb", out=io.StringIO())
    nb = nbformat.read(saved, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)  # Run All reached the last cell
    assert not any(o.output_type == "error" for cell in code for o in cell.outputs)
    assert code[-1].outputs[0]["text"] == "this cell ran after nbstream.run\n"
    grid = code[1].outputs[0]["data"]
    assert set(grid) == {"text/html", "text/plain"}
    assert "8/8 requests" in grid["text/plain"]


def test_papermill_runs_the_quickstart_and_saves_final_replies(tmp_path: Path, monkeypatch) -> None:
    import papermill

    for name in [k for k in os.environ if k.startswith(("OPENAI_", "NBSTREAM_", "AZURE_"))]:
        monkeypatch.delenv(name)
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "quickstart.ipynb"), str(out), cwd=str(tmp_path), progress_bar=False,
        kernel_name="python3",
    )  # fmt: skip
    nb = nbformat.read(out, as_version=4)
    footers = [
        o["data"]["text/plain"].rsplit("\n", 1)[-1]
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if "nbstream" in o.get("metadata", {})
    ]
    assert len(footers) == 6 and all(f.startswith("nbstream-demo · ") for f in footers)


def test_the_context_notebook_runs_offline_with_tables_figures_errors_and_types(
    tmp_path: Path,
) -> None:
    saved = run_demo(NOTEBOOKS / "context.ipynb", tmp_path / "out.ipynb", out=io.StringIO())
    nb = nbformat.read(saved, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)  # Run All reached the last cell
    errors = [c for c in code if any(o.output_type == "error" for o in c.outputs)]
    assert [c.source.splitlines()[0] for c in errors] == ["def per_store(frame, store):"]
    shown = json.dumps([cell.outputs for cell in code], ensure_ascii=False)
    assert "attached 1 table (344×3)" in shown
    assert "It attached 1 image: PNG " in shown and "attached 1 image (≈" in shown
    assert "Cell 6 of my notebook failed" in shown and "ZeroDivisionError" in shown
    assert "Finding(column='example', row=1, why='example')" in shown
    assert "StoreTotal" not in shown and "example" in code[-2].outputs[-1]["data"]["text/plain"]
    assert "nothing inserted: this run has no front end" in shown
