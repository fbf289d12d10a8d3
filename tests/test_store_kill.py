"""kill -9 of a real kernel in the middle of saving turns, then a new kernel on the notebook
(issue 11; FAULTS 25 and 36): every turn the dead kernel said was saved is restored."""

from __future__ import annotations

import queue
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from nbstream.offline.server import OfflineServer
from nbstream.store.threads import ConversationStore

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env
from .test_store_kernels import start

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]

#: A cell saving turns as fast as it can, printing each one's number once it is on disk.
SAVING = """
from nbstream.engine.result import ChatResult
from nbstream.session import current

store = current().store
n = 0
while True:
    store.record("default", f"q{n}", ChatResult(text="a" * (n % 5000)))
    if store.unsaved == 0:
        print(n, flush=True)
    n += 1
"""
ALLOWED = {"conversations.sqlite", "conversations.sqlite-wal", "conversations.sqlite-shm"}


def printed(kernel: Kernel, msg_id: str, until: float) -> list[int]:
    """The numbers the cell printed, read until `until` (monotonic) or the channel is quiet."""
    numbers: list[int] = []
    while time.monotonic() < until:
        try:
            msg = kernel.client.get_iopub_msg(timeout=1.0)
        except queue.Empty:
            break
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            numbers += [int(word) for word in msg["content"]["text"].split()]
    return numbers


def test_kill_9_of_a_kernel_mid_save_loses_no_saved_turn_and_a_new_kernel_restores_them(
    server: OfflineServer, tmp_path: Path
) -> None:
    kernel = start(server, tmp_path)
    try:
        msg_id = kernel.start(SAVING)
        acknowledged = printed(kernel, msg_id, time.monotonic() + 2)
        while len(acknowledged) < 20:  # saving for a while, at any load
            more = printed(kernel, msg_id, time.monotonic() + HANG)
            assert more, "the saving cell printed nothing"
            acknowledged += more
        acknowledged += printed(kernel, msg_id, time.monotonic() + random.uniform(0, 0.5))
        kernel.manager.signal_kernel(signal.SIGKILL)
        acknowledged += printed(kernel, msg_id, time.monotonic() + HANG)  # sent before it died
        assert not kernel.manager.is_alive()
    finally:
        kernel.shutdown()
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    assert {p.name for p in state.parent.iterdir()} <= ALLOWED
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = ConversationStore.open(state, notebook="nb.ipynb")
    users = [ex.user for ex in store.thread().exchanges]
    assert users[: len(acknowledged)] == [f"q{n}" for n in acknowledged]

    restarted = start_kernel(server, tmp_path)
    try:
        loaded = restarted.execute("%load_ext nbstream")
        assert f"restored {len(users)} turns from" in loaded.text
    finally:
        restarted.shutdown()


def start_kernel(server: OfflineServer, folder: Path) -> Kernel:
    """A kernel on `folder/nb.ipynb` without nbstream loaded yet."""
    env = clean_env(
        OPENAI_BASE_URL=server.url,
        OPENAI_API_KEY=SECRET_KEY,
        NBSTREAM_MODEL="nbstream-demo",
        JPY_SESSION_NAME=str(folder / "nb.ipynb"),
    )
    return Kernel(env, cwd=folder)
