"""`%%chat --insert`: the reply's code blocks, joined, as one new cell below; never run.

It uses the front end's own "set next input" payload (JupyterLab, Notebook 7 and VS Code honour
it; IPython keeps one per execution), so re-running the cell inserts again, as `%load` does.
A run without a front end (nbclient, papermill) gets the payload too, and one line saying that
nothing was inserted: such clients send `allow_stdin: false`, which is how they are told apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.S)


def code_of(text: str) -> str | None:
    """The code blocks of a reply joined by blank lines, or None when it has none."""
    blocks = _CODE_BLOCK.findall(text)
    return "\n\n".join(b.rstrip() for b in blocks) if blocks else None


def insert_below(shell: Any, text: str, say: Callable[[str], None]) -> None:
    """Put the reply's code in a new cell below, or say in one line why nothing was inserted."""
    code = code_of(text)
    if code is None:
        say("nothing inserted: the reply has no code block")
        return
    shell.set_next_input(code)
    if headless(shell):
        say("nothing inserted: this run has no front end to add a cell to (nbclient, papermill)")


def headless(shell: Any) -> bool:
    """True when the cell runs without a front end that can add cells."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return False  # terminal IPython puts the code at its next prompt
    parent = kernel.get_parent() if hasattr(kernel, "get_parent") else kernel._parent_header
    return not (parent or {}).get("content", {}).get("allow_stdin", False)
