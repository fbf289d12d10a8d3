"""Which backend a kernel talks to with nothing but the environment: the offline demo for any
model name, Colab's model proxy, and the hints when a backend cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbstream.errors import ConnectError, RequestError
from nbstream.offline.server import OfflineServer
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.show.live import driver
from nbstream.show.surfaces import NullSurface
from nbstream.turn import TurnOptions

from .conftest import SECRET_KEY
from .kernels import Kernel, clean_env

README_EXAMPLES = """
import nbstream
r = nbstream.chat("Summarise this table", model="gpt-4o-mini", temperature=0)
results = nbstream.compare("Which plot?", ["gpt-4o", "gpt-4o-mini"])
print(r.status.value, r.backend, [x.status.value for x in results], [x.backend for x in results])
"""


@pytest.mark.kernel
def test_the_readme_examples_run_offline_as_written(tmp_path: Path) -> None:
    kernel = Kernel(clean_env(), cwd=tmp_path)
    try:
        run = kernel.execute(README_EXAMPLES)
        assert run.reply["status"] == "ok", run.error
        assert run.text.splitlines()[-1] == (
            "complete offline demo ['complete', 'complete'] ['offline demo', 'offline demo']"
        )
        kernel.execute("%load_ext nbstream")
        cell = kernel.execute("%%chat -m gpt-4o\nHello")
        assert cell.reply["status"] == "ok"
        assert cell.final["data"]["text/plain"].endswith("finished · offline demo")
        listed = kernel.execute("%chat models").final["data"]["text/plain"]
        assert "nbstream-demo" in listed and "fault-" not in listed
    finally:
        kernel.shutdown()


@pytest.mark.kernel
def test_colabs_model_proxy_is_the_backend_when_nothing_else_is_set(
    server: OfflineServer, log, tmp_path: Path
) -> None:
    host = server.url.removesuffix("/v1")
    env = clean_env(MODEL_PROXY_HOST=host, MODEL_PROXY_API_KEY=SECRET_KEY)
    kernel = Kernel(env, cwd=tmp_path)
    try:
        kernel.execute("%load_ext nbstream")
        run = kernel.execute("%%chat --no-history\nHello Colab")
        assert run.reply["status"] == "ok", run.error
        assert log.records[-1].authorization == f"Bearer {SECRET_KEY}"
        assert log.records[-1].model == "nbstream-demo"  # the first the proxy lists
        assert "offline demo" not in run.final["data"]["text/plain"]
        config = kernel.execute("%chat config").final["data"]["text/plain"].replace("\\_", "_")
        assert "Colab's model proxy: MODEL_PROXY_HOST is set" in config
        assert SECRET_KEY not in config
    finally:
        kernel.shutdown()


def test_config_says_which_backend_was_chosen_and_why(monkeypatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NBSTREAM_BASE_URL", "MODEL_PROXY_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert Session().settings(TurnOptions()).shown()["backend"].startswith("offline demo")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert Session().settings(TurnOptions()).shown()["backend"] == "OPENAI_BASE_URL is set"


def _fail(base_url: str, key: str = SECRET_KEY) -> Exception:
    session = Session(NbStream(base_url=base_url, max_retries=0, connect_timeout=5))
    session_env = {"OPENAI_API_KEY": key}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in session_env.items():
            patch.setenv(name, value)
        with pytest.raises((ConnectError, RequestError)) as caught:
            session.chat("hi", TurnOptions(no_history=True), driver(NullSurface()))
    return caught.value


def test_a_base_url_without_v1_says_so(server: OfflineServer) -> None:
    bare = server.url.removesuffix("/v1")
    err = _fail(bare)
    assert err.message.startswith("404 from 127.0.0.1")
    assert err.hint == f"the base URL has no path: try OPENAI_BASE_URL={bare}/v1"


def test_a_host_that_cannot_be_resolved_names_the_network_not_the_server() -> None:
    err = _fail("https://api.nbstream.invalid/v1")  # .invalid never resolves (RFC 2606)
    assert "cannot connect to https://api.nbstream.invalid/v1" in err.message
    assert "cannot resolve api.nbstream.invalid" in err.hint and "running" not in err.hint


def test_a_local_server_that_is_down_asks_whether_it_runs() -> None:
    err = _fail("http://127.0.0.1:9/v1")  # the discard port: nothing listens there
    assert "is the server running?" in err.hint
