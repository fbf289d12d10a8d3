"""Two real kernels on one notebook, and a real full disk under a kernel (FAULTS 35, 36)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nbstream.offline.server import OfflineServer
from nbstream.store.threads import ConversationStore

from .conftest import SECRET_KEY
from .kernels import Kernel, clean_env
from .test_store_faults import fill, tmpfs

pytestmark = pytest.mark.kernel


def start(server: OfflineServer, folder: Path) -> Kernel:
    env = clean_env(
        OPENAI_BASE_URL=server.url,
        OPENAI_API_KEY=SECRET_KEY,
        NBSTREAM_MODEL="nbstream-demo",
        JPY_SESSION_NAME=str(folder / "nb.ipynb"),
    )
    kernel = Kernel(env, cwd=folder)
    assert kernel.execute("%load_ext nbstream").reply["status"] == "ok"
    return kernel


@pytest.fixture
def kernels(server: OfflineServer, tmp_path: Path) -> Iterator[tuple[Kernel, Kernel]]:
    first = start(server, tmp_path)
    second = start(server, tmp_path)
    yield first, second
    first.shutdown()
    second.shutdown()


def saved(folder: Path, thread: str = "default") -> list[str]:
    store = ConversationStore.open(
        folder / ".nbstream" / "conversations.sqlite", notebook="nb.ipynb"
    )
    return [ex.user for ex in store.thread(thread).exchanges]


def say(kernel: Kernel, prompt: str, thread: str, cell: str) -> None:
    run = kernel.execute(f"%%chat -t {thread}\n{prompt}", cell_id=cell)
    assert run.reply["status"] == "ok", run.error
    assert "not saved" not in run.text


def test_two_kernels_on_one_notebook_keep_every_turn_in_commit_order(
    kernels: tuple[Kernel, Kernel], tmp_path: Path, log
) -> None:
    first, second = kernels
    for n in range(5):
        say(first, f"first {n}", "shared", f"f{n}")
        say(second, f"second {n}", "shared", f"s{n}")
        say(first, f"first alone {n}", "first", f"fa{n}")
        say(second, f"second alone {n}", "second", f"sa{n}")
    shared = [f"{who} {n}" for n in range(5) for who in ("first", "second")]
    assert saved(tmp_path, "shared") == shared
    assert saved(tmp_path, "first") == [f"first alone {n}" for n in range(5)]
    assert saved(tmp_path, "second") == [f"second alone {n}" for n in range(5)]
    last = next(r for r in log.records if r.body["messages"][-1]["content"] == "second 4")
    sent = [m["content"] for m in last.body["messages"] if m["role"] == "user"]
    assert sent == shared  # the second kernel sent the first kernel's turns as history


def test_two_kernels_rerunning_one_cell_keep_the_later_reply_only(
    kernels: tuple[Kernel, Kernel], tmp_path: Path
) -> None:
    first, second = kernels
    say(first, "before", "default", "c0")
    say(first, "the cell, first kernel", "default", "c1")
    say(second, "after", "default", "c2")
    say(second, "the cell, second kernel", "default", "c1")
    assert saved(tmp_path) == ["before", "the cell, second kernel", "after"]


def test_on_a_full_disk_every_cell_says_not_saved_and_all_are_saved_once_space_is_back(
    server: OfflineServer, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        kernel = start(server, disk)
        try:
            say(kernel, "before", "default", "c")
            filler = fill(disk)
            for n in range(10):
                run = kernel.execute(f"%%chat\nfull {n}", cell_id=f"c{n}")
                assert run.reply["status"] == "ok"
                assert "finished" in run.final["data"]["text/plain"]  # the reply is shown
                assert "nbstream: not saved: disk full" in run.text
            filler.unlink()
            say(kernel, "after", "default", "after")
            assert saved(disk) == ["before", *(f"full {n}" for n in range(10)), "after"]
        finally:
            kernel.shutdown()
