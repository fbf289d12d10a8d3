"""`%load_ext nbstream` in a real kernel: the magics, restored turns, short errors, unload."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nbstream.engine.result import ChatResult
from nbstream.offline.server import OfflineServer
from nbstream.store.paths import state_path
from nbstream.store.threads import ConversationStore

from .conftest import SECRET_KEY
from .kernels import Kernel, clean_env

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(server: OfflineServer, tmp_path_factory) -> Iterator[Kernel]:
    folder = tmp_path_factory.mktemp("notebook")
    saved = ConversationStore.open(state_path(folder / "a.ipynb"), notebook="a.ipynb")
    saved.record("default", "earlier", ChatResult(text="kept"))
    env = clean_env(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY,
                    NBSTREAM_MODEL="nbstream-demo", JPY_SESSION_NAME="a.ipynb")  # fmt: skip
    started = Kernel(env, cwd=folder)
    yield started
    started.shutdown()


def test_loading_restores_the_notebooks_turns_and_says_so(kernel) -> None:
    loaded = kernel.execute("%load_ext nbstream")
    assert loaded.error is None
    assert loaded.text == "nbstream: restored 1 turn from .nbstream/conversations.sqlite\n"
    history = kernel.execute("%chat history")
    assert "earlier" in history.final["data"]["text/plain"]


def test_an_nbstream_error_shows_its_message_and_hint_not_a_traceback(kernel) -> None:
    failed = kernel.execute("raise __import__('nbstream').NbStreamError('it broke', 'do this')")
    assert failed.error is not None
    shown = "\n".join(failed.error["traceback"])
    assert "NbStreamError: it broke\n    hint: do this\n  (%tb for the traceback)" in shown
    assert "File " not in shown


def test_unloading_removes_the_magics(kernel) -> None:
    kernel.execute("%load_ext nbstream")
    assert kernel.execute("%unload_ext nbstream").error is None
    gone = kernel.execute("%chat threads")
    assert "UsageError: Line magic function `%chat` not found." in gone.text
    assert gone.reply["status"] == "error"
