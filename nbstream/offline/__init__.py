"""nbstream's offline server: the demo backend when no key is set, and the test server.

The engine never imports this package: the session starts the server and hands the engine its
base URL, as it would any other server's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import OfflineServer

NOTICE = (
    "No API key or base URL is set, so nbstream uses its offline demo server at {url}: "
    "replies describe your request; they do not come from a language model."
)

_lock = threading.Lock()
_server: OfflineServer | None = None  # one per process, under _lock; lives as long as it does


def start() -> tuple[str, bool]:
    """The in-process demo server's base URL, starting it on first use; True if it started now."""
    global _server
    with _lock:
        if _server is not None:
            return _server.url, False
        from .server import OfflineServer

        server = OfflineServer()
        server.start()
        _server = server
        return server.url, True
