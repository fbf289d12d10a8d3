"""Where a notebook's conversations live, and how paths are shown in messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbstream.store.paths import legacy_path, notebook_path, short_path, state_path


def test_a_path_below_the_working_directory_is_shown_relative(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert short_path(tmp_path / ".nbstream" / "cache.sqlite") == ".nbstream/cache.sqlite"
    assert short_path(Path("/elsewhere/x.sqlite")) == "/elsewhere/x.sqlite"


def test_the_notebook_comes_from_vscode_first_then_jupyter(tmp_path) -> None:
    vscode = {"__vsc_ipynb_file__": "/home/me/a.ipynb"}
    jupyter = {"JPY_SESSION_NAME": "work/b.ipynb"}
    assert notebook_path(jupyter, vscode, cwd=tmp_path) == Path("/home/me/a.ipynb")
    # Jupyter's name is relative to the server root; the kernel runs beside the notebook.
    assert notebook_path(jupyter, {}, cwd=tmp_path) == tmp_path / "b.ipynb"


@pytest.mark.parametrize(
    ("environ", "user_ns"),
    [({}, {}), ({"JPY_SESSION_NAME": "console-1"}, {}), ({}, {"__vsc_ipynb_file__": ""})],
)
def test_no_notebook_is_known_outside_one(environ, user_ns) -> None:
    assert notebook_path(environ, user_ns) is None


def test_a_folders_notebooks_share_one_database_beside_them() -> None:
    assert state_path(Path("/w/a.ipynb")) == state_path(Path("/w/b.ipynb"))
    assert state_path(Path("/w/a.ipynb")) == Path("/w/.nbstream/conversations.sqlite")
    assert legacy_path(Path("/w/a.ipynb")) == Path("/w/.nbstream/a.json")
