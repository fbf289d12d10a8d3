"""nbstream: stream chat completions into Jupyter notebooks, with usage and speed.

`%load_ext nbstream`, then `%%chat` cells; or from Python, `nbstream.chat("Hello")`.
"""

from __future__ import annotations

from typing import Any

from .api import achat, agather, chat, compare, gather
from .batching import BatchHandle, cancel, collect
from .conversation import Chat
from .engine.loop import run
from .engine.result import ChatResult, Status, Timings, Usage
from .errors import IncompleteError, NbStreamError
from .mapping import map_items as map  # noqa: F401 — not in __all__: `import *` keeps the builtin
from .scale.frame import frame
from .settings import Api, NbStream
from .text_stream import AsyncTextStream, TextStream, astream, stream
from .tools.function import tool

__version__ = "0.1.0"

__all__ = [
    "Api",
    "AsyncTextStream",
    "BatchHandle",
    "Chat",
    "ChatPanel",
    "ChatResult",
    "IncompleteError",
    "NbStream",
    "NbStreamError",
    "Status",
    "TextStream",
    "Timings",
    "Usage",
    "achat",
    "agather",
    "astream",
    "cancel",
    "chat",
    "collect",
    "compare",
    "frame",
    "gather",
    "load_ipython_extension",
    "run",
    "stream",
    "tool",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> Any:
    # The panel needs ipywidgets, which `%load_ext nbstream` should not pay for.
    if name == "ChatPanel":
        from .show.panel import ChatPanel

        return ChatPanel
    raise AttributeError(f"module 'nbstream' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext nbstream`: register the `%chat` / `%%chat` magics."""
    from .ipython.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext nbstream`: remove the magics."""
    from .ipython.extension import unload

    unload(ipython)
