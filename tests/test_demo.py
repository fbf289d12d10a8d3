"""`nbstream demo`: a notebook run on the offline backend, echoed as it runs, then saved."""

from __future__ import annotations

import io

import nbformat
import pytest

from nbstream.errors import ConfigError
from nbstream.offline.demo import run_demo


def test_a_missing_notebook_is_a_config_error_naming_it(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"no notebook at .*missing\.ipynb"):
        run_demo(tmp_path / "missing.ipynb", tmp_path / "out.ipynb")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.kernel
def test_the_demo_runs_offline_echoes_and_saves_the_replies(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-used-0123456789")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext nbstream"),
                      nbformat.v4.new_code_cell("%%chat\nSay hello")]  # fmt: skip
    source = tmp_path / "demo.ipynb"
    nbformat.write(notebook, source)
    echoed = io.StringIO()
    saved = run_demo(source, tmp_path / "out.ipynb", out=echoed)
    cells = nbformat.read(saved, as_version=4).cells
    final = cells[1].outputs[-1]
    assert final["output_type"] == "display_data" and final["data"]["text/plain"]
    assert final["metadata"]["nbstream"]["status"] == "complete"
    assert final["data"]["text/plain"].rstrip().endswith("finished · offline demo")
    assert "In [2]: %%chat\n   ...: Say hello\n" in echoed.getvalue()
    assert echoed.getvalue().rstrip().endswith("finished · offline demo")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.ipynb", "out.ipynb"]
