"""What `%load_ext` warms in the background: the client for the configured backend, or none."""

from __future__ import annotations

from nbstream.engine import loop
from nbstream.ipython.warm import _prepare, warm
from nbstream.session import Session
from nbstream.settings import NbStream
from nbstream.store.threads import ConversationStore

from .conftest import SECRET_KEY


def test_a_configured_backend_is_warmed_and_the_offline_one_is_left_to_its_first_turn(
    server, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    configured = Session(NbStream(base_url=server.url, model="m"), ConversationStore(),
                         tmp_path / "c.sqlite")  # fmt: skip
    settings = _prepare(configured)
    assert settings is not None and settings.base_url == server.url
    assert configured.apis.responses_only_at_hand(server.url, "m") is False  # no thread needed
    loop.run(warm(configured))  # builds the client; sends nothing
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NBSTREAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    offline = Session(NbStream(), ConversationStore(), tmp_path / "d.sqlite")
    assert _prepare(offline) is None
