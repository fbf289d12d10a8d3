"""`%load_ext nbstream` leaves the heavy imports to the background, which does them before the
first turn: the user waits for neither."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

pytestmark = pytest.mark.kernel

#: What `%load_ext` must not import on the main thread: each costs a tenth of a second or more.
HEAVY = ("openai", "httpx", "httpx2", "pydantic", "markdown_it", "nh3", "urllib.request")

#: Records, in the kernel, every module the main thread loads (an audit hook cannot be removed:
#: each test gets a fresh kernel).
RECORD = f"""
import json, sys, threading, time
HEAVY = {HEAVY!r}
_loaded = []
def _record(event, args, main=threading.main_thread()):
    if event == "import" and threading.current_thread() is main:
        _loaded.append(args[0])
sys.addaudithook(_record)
def _heavy(names):
    return sorted({{n for n in names for h in HEAVY if n == h or n.startswith(h + ".")}})
"""


@pytest.fixture
def kernel(server, tmp_path) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path)
    started.execute(RECORD)
    yield started
    started.shutdown()


def heavy_loaded_by(kernel: Kernel, code: str) -> list[str]:
    """The heavy modules the main thread loads while `code` runs in the kernel."""
    run = kernel.execute(f"_loaded.clear()\n{code}\nprint(json.dumps(_heavy(_loaded)))")
    assert run.reply["status"] == "ok", run.error
    return list(json.loads(run.text.strip().splitlines()[-1]))


#: The warm-up's last step: the client for the configured server is in the pool.
WARM = "len(sys.modules['nbstream.engine.clients'].POOL._clients) == 1"


def wait_for_warm_up(kernel: Kernel) -> None:
    run = kernel.execute(
        f"_deadline = time.monotonic() + {HANG}\n"
        "while not all(h in sys.modules for h in ('openai', 'markdown_it', 'nh3', 'pydantic')):\n"
        "    assert time.monotonic() < _deadline, 'the warm-up never imported them'\n"
        "    time.sleep(0.05)\n"
        f"while not {WARM}:\n"
        "    assert time.monotonic() < _deadline, 'the warm-up never made the client'\n"
        "    time.sleep(0.05)\n"
    )
    assert run.reply["status"] == "ok", run.error


def test_load_ext_imports_no_heavy_module_on_the_main_thread(kernel) -> None:
    assert heavy_loaded_by(kernel, "%load_ext nbstream") == []


def test_the_warm_up_imports_them_in_the_background(kernel) -> None:
    heavy_loaded_by(kernel, "%load_ext nbstream")
    wait_for_warm_up(kernel)  # fails unless another thread imported them: this one only slept


def test_the_first_turn_after_the_warm_up_imports_nothing_heavy(kernel) -> None:
    heavy_loaded_by(kernel, "%load_ext nbstream")
    wait_for_warm_up(kernel)
    assert heavy_loaded_by(kernel, "get_ipython().run_cell_magic('chat', '', 'hello')") == []
