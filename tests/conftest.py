"""Shared fixtures: the shipped offline server on a free loopback port, settings for it."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nbstream.offline.server import FAULTS_ENV, OfflineServer
from nbstream.session import Session
from nbstream.settings import NbStream, Settings, resolve
from nbstream.store.db import STRICT_THREADS
from nbstream.store.threads import ConversationStore

#: A key that looks real, so a leak would be visible in any output.
SECRET_KEY = "sk-test-SECRET-0123456789abcdef"

#: Seconds to wait for something that must happen, so that a hang fails the test instead of
#: stalling it. Never a speed target: on 2 shared cores only outcomes and order are stable;
#: the speeds are measured in benchmarks/bench_latency.py.
HANG = 20.0

_keys = itertools.count()


def eventually(holds: Callable[[], bool], timeout: float = HANG) -> bool:
    """Whether `holds()` becomes true within `timeout` seconds (HANG: it must happen)."""
    deadline = time.monotonic() + timeout
    while not holds():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# Offline servers started in this process serve the fault models, so the error paths stay
# testable. Kernels get a clean environment (tests/kernels.py): theirs do not, as a user's.
os.environ[FAULTS_ENV] = "1"
# A database used on nbstream's loop thread raises (nbstream.store.db.off_loop).
os.environ[STRICT_THREADS] = "1"


@pytest.fixture(scope="session", autouse=True)
def interrupts_raise() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt here, as in a kernel: a shell starts a background job
    with SIGINT ignored, Python then keeps ignoring it, and `_thread.interrupt_main()` in the
    interrupt tests would do nothing (`pytest &` failed them, `pytest` passed)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def server() -> Iterator[OfflineServer]:
    """The offline server, shared by the session (the request log is per test: see `log`)."""
    with OfflineServer(rate=0, faults=True) as srv:
        yield srv


@pytest.fixture
def log(server: OfflineServer):
    """The server's request log, cleared for this test."""
    server.log.clear()
    return server.log


@pytest.fixture
def settings(server: OfflineServer, log) -> Settings:
    """Settings pointing at the offline server with fast timeouts and no real key."""
    return resolve(
        base_url=server.url,
        api_key=SECRET_KEY,
        model="nbstream-demo",
        connect_timeout=2,
        first_token_timeout=5,
        idle_timeout=5,
        max_retries=2,
        environ={},
    )


@pytest.fixture
def fault_key() -> str:
    """A fresh key for the server's per-key failure counters."""
    return f"k{next(_keys)}"


def demo_session(
    server: OfflineServer,
    monkeypatch: pytest.MonkeyPatch,
    on_disk: Path | None = None,
    retries: int = 0,
) -> Session:
    """A session on the offline server with the test key; store and cache in `on_disk` if given."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.delenv("NBSTREAM_CACHE", raising=False)
    config = NbStream(base_url=server.url, model="nbstream-demo", max_retries=retries)
    if on_disk is None:
        return Session(config)
    store = ConversationStore.open(on_disk / "conversations.sqlite", notebook="nb.ipynb")
    return Session(config, store, cache=on_disk / "cache.sqlite")


def text(value: str) -> dict[str, dict[str, str]]:
    """Request params asking the offline server to answer exactly `value`."""
    return {"nbstream": {"text": value}}
