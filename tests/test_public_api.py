"""The public API is what `nbstream/__init__.py` lists, and each piece is documented."""

from __future__ import annotations

import inspect

import nbstream


def test_the_public_api_is_pinned() -> None:
    assert sorted(nbstream.__all__) == [
        "Api", "AsyncTextStream", "BatchHandle", "Chat", "ChatPanel", "ChatResult",
        "IncompleteError", "NbStream", "NbStreamError", "Status", "TextStream", "Timings", "Usage",
        "achat", "agather", "astream", "cancel", "chat", "collect", "compare", "frame", "gather",
        "load_ipython_extension", "run", "stream", "tool", "unload_ipython_extension",
    ]  # fmt: skip


def test_every_public_name_exists_and_has_a_docstring() -> None:
    for name in nbstream.__all__:
        obj = getattr(nbstream, name)
        assert inspect.getdoc(obj), f"{name} has no docstring"


def test_importing_nbstream_does_not_import_widgets() -> None:
    import subprocess
    import sys

    code = "import sys, nbstream; print('ipywidgets' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
