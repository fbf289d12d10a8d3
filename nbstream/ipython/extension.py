"""Loading and unloading the extension: the one place that builds a kernel's session."""

from __future__ import annotations

import os
import sys
from typing import Any

from ..engine import loop
from ..engine.clients import POOL, warm_up
from ..errors import NbStreamError
from ..session import Session, set_current
from ..settings import NbStream
from ..store.cache import cache_path
from ..store.paths import legacy_path, notebook_path, short_path, state_path
from ..store.threads import ConversationStore
from .magics import ChatMagics


def _error_handler(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
) -> None:
    """Show an nbstream error as its message and hint, not a traceback wall; `%tb` has it."""
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    sys.last_exc = value  # type: ignore[attr-defined]  # read by %tb on Python 3.12+
    message = str(value).replace("\n", "\n  ")
    shell._showtraceback(etype, value, [f"{etype.__name__}: {message}\n  (%tb for the traceback)"])


def load(shell: Any) -> None:
    """Register the magics, the configuration and the short error display on `shell`."""
    config = NbStream(parent=shell)
    shell.configurables.append(config)
    notebook = notebook_path(os.environ, shell.user_ns)
    store = ConversationStore()
    if notebook and config.persist:
        store = ConversationStore.open(
            state_path(notebook), notebook=notebook.name, legacy=legacy_path(notebook)
        )
    session = Session(config, store, cache_path(notebook))
    for warning in store.warnings:
        print(warning, file=sys.stderr)
    if store.restored and store.path:
        restored = store.restored
        print(f"nbstream: restored {restored} turn{'' if restored == 1 else 's'} from "
              f"{short_path(store.path)}")  # fmt: skip
    shell.register_magics(ChatMagics(shell, session))
    shell.set_custom_exc((NbStreamError,), _error_handler)
    set_current(session)
    loop.submit(warm_up())


def unload(shell: Any) -> None:
    """Remove what `load` registered."""
    shell.magics_manager.registry.pop("ChatMagics", None)
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("chat", None)
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, NbStream)]
    shell.set_custom_exc((), None)
    loop.run(POOL.aclose())
