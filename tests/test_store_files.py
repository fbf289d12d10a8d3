"""The store's files: private under any umask, which journal `%chat config` names, and a
write refused by a real file-size limit (RLIMIT_FSIZE) kept until it can be written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbstream.engine.result import ChatResult
from nbstream.show.export import export
from nbstream.store.threads import ConversationStore, shown

from .conftest import HANG


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that hides nothing: whatever is private is made so by nbstream itself."""
    old = os.umask(0)
    yield
    os.umask(old)


def nfs(folder: Path) -> str:
    """A mount table in which `folder` is on NFS."""
    return f"server:/export {folder} nfs4 rw 0 0\n"


def modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


@pytest.mark.parametrize("on_nfs", [False, True], ids=["wal", "delete"])
def test_every_file_is_private_even_under_an_open_umask(
    tmp_path: Path, open_umask: None, on_nfs: bool
) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    store = ConversationStore.open(
        state, notebook="nb.ipynb", mounts=nfs(tmp_path) if on_nfs else ""
    )
    store.record("default", "q", ChatResult(text="a"))
    exported = export(store.thread(), tmp_path / ".nbstream" / "chat.md")
    files = modes(state.parent)
    expected = {"conversations.sqlite", "chat.md"}
    expected |= set() if on_nfs else {"conversations.sqlite-wal", "conversations.sqlite-shm"}
    assert set(files) == expected and set(files.values()) == {0o600}
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    assert exported.read_text().startswith("# Conversation")


def test_an_exported_transcript_is_private_where_it_replaces_a_public_file(
    tmp_path: Path, open_umask: None
) -> None:
    target = tmp_path / "chat.json"
    target.write_text("old")
    target.chmod(0o644)
    store = ConversationStore()
    store.record("default", "secret question", ChatResult(text="a"))
    export(store.thread(), target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "secret question" in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["chat.json"]  # no temp file left


@pytest.mark.parametrize(("on_nfs", "said"), [(False, "(journal wal)"), (True, "(journal delete)")])
def test_config_names_the_journal_mode_in_use(tmp_path: Path, on_nfs: bool, said: str) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    store = ConversationStore.open(
        state, notebook="nb.ipynb", mounts=nfs(tmp_path) if on_nfs else ""
    )
    assert shown(store) == f"{state} {said}"  # outside the working directory: in full
    assert shown(ConversationStore()) == "in memory only"


#: Saves 5 turns under a file-size limit the database cannot grow past, lifts it, saves one
#: more; prints how many were unsaved after each turn and the problem named.
LIMITED = """
import resource, signal, sys
from pathlib import Path
from nbstream.engine.result import ChatResult
from nbstream.store.threads import ConversationStore

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
store = ConversationStore.open(Path(sys.argv[1]), notebook="nb.ipynb")
store.record("default", "before", ChatResult(text="a"))
size = Path(sys.argv[1]).stat().st_size + Path(sys.argv[1] + "-wal").stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
for n in range(5):
    store.record("default", f"q{n}", ChatResult(text="x" * 100_000))
    print(store.unsaved, store.problem is not None)
print(store.problem)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
store.record("default", "after", ChatResult(text="a"))
print(store.unsaved, store.problem)
"""


def test_a_file_size_limit_keeps_every_turn_until_it_is_lifted(tmp_path: Path) -> None:
    state = tmp_path / ".nbstream" / "conversations.sqlite"
    done = subprocess.run(
        [sys.executable, "-c", LIMITED, str(state)],
        capture_output=True, text=True, timeout=HANG, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[:5] == [f"{n} True" for n in range(1, 6)]
    assert lines[5] == "disk I/O error"  # SQLite's words for EFBIG, shown after "not saved:"
    assert lines[6] == "0 None"
    users = [
        ex.user for ex in ConversationStore.open(state, notebook="nb.ipynb").thread().exchanges
    ]
    assert users == ["before", *(f"q{n}" for n in range(5)), "after"]
