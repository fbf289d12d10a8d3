"""Colab's built-in model proxy as a backend, found the way `google.colab.ai` finds it.

`google/colab/ai.py` in googlecolab/colabtools reads two environment variables:
`MODEL_PROXY_HOST` (the chat API is at `{host}/models/openapi`, the model list at
`{host}/models`) and `MODEL_PROXY_API_KEY` (the bearer token; Colab may instead keep it as a
user secret, which only `google.colab.userdata` reads, so nbstream needs it in the environment).
Its own default model is `google/gemini-2.5-flash`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

HOST_ENV = "MODEL_PROXY_HOST"
KEY_ENV = "MODEL_PROXY_API_KEY"
#: google.colab.ai's default model: chosen when the proxy lists it (or lists nothing).
PREFERRED_MODEL = "google/gemini-2.5-flash"


@dataclass(frozen=True)
class ColabProxy:
    """Where Colab's model proxy is, and its token (never in the repr)."""

    host: str
    token: str = field(repr=False)

    @property
    def base_url(self) -> str:
        """The proxy's OpenAI-compatible base URL."""
        return f"{self.host}/models/openapi"

    def default_model(self, timeout: float) -> str:
        """google.colab.ai's default if the proxy lists it, else the first model it lists."""
        return _default_model(self.host, self.token, timeout)


def proxy(environ: Mapping[str, str]) -> ColabProxy | None:
    """The proxy when both of google.colab.ai's variables are set, else None."""
    host, token = environ.get(HOST_ENV, "").rstrip("/"), environ.get(KEY_ENV, "")
    return ColabProxy(host, token) if host and token else None


@functools.lru_cache(maxsize=4)  # one request per kernel: the list does not change meanwhile
def _default_model(host: str, token: str, timeout: float) -> str:
    import urllib.request  # a tenth of `%load_ext` when imported with the module; rarely needed

    request = urllib.request.Request(f"{host}/models", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            models = [str(m["id"]) for m in json.load(response)["data"]]
    except (OSError, ValueError, KeyError, TypeError):
        return PREFERRED_MODEL  # the turn's own request then says what is wrong
    return PREFERRED_MODEL if PREFERRED_MODEL in models or not models else models[0]
