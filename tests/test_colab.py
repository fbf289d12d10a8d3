"""Colab's model proxy as a backend: found from its two variables, its default model asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nbstream.colab import HOST_ENV, KEY_ENV, PREFERRED_MODEL, proxy

from .conftest import HANG


class Models(BaseHTTPRequestHandler):
    """A proxy's /models answering with the list in `server.models`; records the token."""

    def do_GET(self) -> None:
        self.server.tokens.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        body = json.dumps({"data": [{"id": m} for m in self.server.models]}).encode()  # type: ignore[attr-defined]
        self.send_response(200 if self.path == "/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def models_server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    srv.models, srv.tokens = [], []  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_the_proxy_needs_both_variables() -> None:
    assert proxy({}) is None
    assert proxy({HOST_ENV: "https://proxy.example"}) is None
    assert proxy({KEY_ENV: "tok"}) is None
    found = proxy({HOST_ENV: "https://proxy.example/", KEY_ENV: "tok-123"})
    assert found is not None and found.base_url == "https://proxy.example/models/openapi"
    assert "tok-123" not in repr(found)


@pytest.mark.parametrize(
    ("listed", "chosen"),
    [
        (["a/one", PREFERRED_MODEL], PREFERRED_MODEL),
        (["a/one", "b/two"], "a/one"),
        ([], PREFERRED_MODEL),
    ],
)
def test_the_default_model_is_colabs_own_if_listed_else_the_first(
    models_server, listed, chosen
) -> None:
    models_server.models = listed
    host = f"http://127.0.0.1:{models_server.server_port}"
    found = proxy({HOST_ENV: host, KEY_ENV: f"tok-{len(listed)}"})
    assert found is not None and found.default_model(timeout=HANG) == chosen
    assert models_server.tokens == [f"Bearer tok-{len(listed)}"]


def test_an_unreachable_proxy_falls_back_to_colabs_default() -> None:
    found = proxy({HOST_ENV: "http://127.0.0.1:9", KEY_ENV: "t"})  # port 9: discard, closed
    assert found is not None and found.default_model(timeout=2.0) == PREFERRED_MODEL
