"""nbstream: stream chat completions into Jupyter notebooks, with usage and speed.

`%load_ext nbstream`, then `%%chat` cells. See README.md.
"""

from __future__ import annotations

from .errors import NbStreamError
from .loop import run
from .result import ChatResult, Status, Usage
from .settings import NbStream

__version__ = "0.1.0"

__all__ = [
    "ChatResult",
    "NbStream",
    "NbStreamError",
    "Status",
    "Usage",
    "load_ipython_extension",
    "run",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext nbstream`: register the `%chat` / `%%chat` magics."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """`%unload_ext nbstream`: remove the magics."""
    from .magics import unload

    unload(ipython)
