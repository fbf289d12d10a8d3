"""nbstream's traitlets configuration: what `%config NbStream.<name> = ...` and
`c.NbStream.<name> = ...` in ipython_config.py set (nbstream.settings resolves it for a request)."""

from __future__ import annotations

from traitlets import Bool, Dict, Float, Int, Unicode
from traitlets.config import Configurable


class NbStream(Configurable):
    """nbstream's configuration; every trait can be set with `%config NbStream.<name> = ...`."""

    model = Unicode(None, allow_none=True, help="Model name (else $NBSTREAM_MODEL).").tag(
        config=True
    )
    base_url = Unicode(
        None, allow_none=True, help="OpenAI-compatible base URL (else $NBSTREAM_BASE_URL)."
    ).tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to open the connection.").tag(config=True)
    first_token_timeout = Float(120.0, help="Seconds to wait for the first token.").tag(config=True)
    idle_timeout = Float(60.0, help="Seconds without any data (keep-alives count).").tag(
        config=True
    )
    max_retries = Int(2, help="Retries before the first token (429, 408, 409, 5xx).").tag(
        config=True
    )
    max_retry_wait = Float(60.0, help="Longest Retry-After nbstream will honour, seconds.").tag(
        config=True
    )
    offline_fallback = Bool(
        True, help="With no key and no base URL, use the built-in offline demo server."
    ).tag(config=True)
    persist = Bool(True, help="Save conversations in .nbstream/ beside the notebook.").tag(
        config=True
    )
    history_limit = Int(
        None, allow_none=True, help="Send at most this many past exchanges (None: all)."
    ).tag(config=True)
    prices = Dict(help="Extra prices, {model: [input $/1M tokens, output $/1M tokens]}.").tag(
        config=True
    )
    cache = Unicode(
        None,
        allow_none=True,
        help="Response cache: off, record, replay, strict (else $NBSTREAM_CACHE).",
    ).tag(config=True)
    replay_pace = Unicode(
        "instant", help="Replayed replies appear at once (instant) or at the recorded pace."
    ).tag(config=True)
    api = Unicode("auto", help="Endpoint: chat, responses, or auto (chat unless a model needs "
                  "responses).").tag(config=True)  # fmt: skip
    hide_reasoning = Bool(False, help="Show only the count of reasoning tokens.").tag(config=True)
    allow_incomplete = Bool(
        False, help="A %%chat cell whose reply is incomplete (no finish reason) does not fail."
    ).tag(config=True)
    think_tags = Bool(True, help="Show <think>…</think> in a reply as reasoning.").tag(config=True)
    context_tokens = Int(
        4000, help="Most tokens one {value} or attached file adds to a prompt (tables, text)."
    ).tag(config=True)
    image_max_side = Int(1024, help="Attached images are resized to at most this many pixels "
                         "on their longest side.").tag(config=True)  # fmt: skip
    approve = Unicode("ask", help="Tool calls: ask before running a function not marked safe, "
                      "or auto.").tag(config=True)  # fmt: skip
    max_tool_rounds = Int(8, help="Tool rounds before the loop stops.").tag(config=True)
    tool_result_chars = Int(
        20_000, help="A tool result longer than this is cut, with a note, before it is sent."
    ).tag(config=True)
