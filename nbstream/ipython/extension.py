"""Loading and unloading the extension: the one place that builds a kernel's session."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from ..context.kernel import watch
from ..engine import loop
from ..engine.clients import POOL
from ..errors import NbStreamError
from ..redact import KEY_FILTER, guard_logs
from ..session import Session, set_current
from ..settings import NbStream
from ..store.cache import cache_path
from ..store.paths import legacy_path, notebook_path, short_path, state_path
from ..store.threads import ConversationStore
from ..tools.mainthread import INBOX
from .magics import ChatMagics
from .warm import warm


def _error_handler(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
) -> None:
    """Show an nbstream error as its message and hint, not a traceback wall; `%tb` has it.
    An interrupt shows the user's frames only: nbstream's are its business, not theirs."""
    if isinstance(value, KeyboardInterrupt):
        shell.showtraceback((etype, value, _users_frames(tb)), tb_offset=tb_offset)
        return
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    sys.last_exc = value  # type: ignore[attr-defined]  # read by %tb on Python 3.12+
    message = str(value).replace("\n", "\n  ")
    shell._showtraceback(etype, value, [f"{etype.__name__}: {message}\n  (%tb for the traceback)"])


def _users_frames(tb: TracebackType | None) -> TracebackType | None:
    """`tb` cut before nbstream's first frame, and before the IPython machinery that called
    it; unchanged when nbstream is not in it (an interrupt of the user's own code)."""
    frames = list(_walk(tb))
    kept = list(itertools.takewhile(lambda t: not _module(t).startswith("nbstream"), frames))
    if len(kept) == len(frames):
        return tb
    while len(kept) > 2 and _module(kept[-1]).startswith("IPython."):
        kept.pop()  # the magic machinery between the cell and nbstream
    kept[-1].tb_next = None
    return kept[0]


def _walk(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _module(tb: TracebackType) -> str:
    return str(tb.tb_frame.f_globals.get("__name__", ""))


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
    shell.register_magics(ChatMagics(shell, session, watch(shell)))
    shell.set_custom_exc((NbStreamError, KeyboardInterrupt), _error_handler)
    set_current(session)
    INBOX.capture()  # the kernel's main-thread loop, for tool calls made when no cell runs
    loop.submit(warm(session))


def unload(shell: Any) -> None:
    """Remove what `load` registered."""
    magics = shell.magics_manager.registry.pop("ChatMagics", None)
    watched = getattr(magics, "watched", None)
    if watched is not None:
        watched.stop()
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("chat", None)
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, NbStream)]
    shell.set_custom_exc((), None)
    loop.run(POOL.aclose())
    guard_logs(KEY_FILTER, on=False)
