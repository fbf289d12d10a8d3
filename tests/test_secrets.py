"""API keys: never shown (errors, their chains, `%tb`), never sent (the guard on request bodies)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest

import nbstream
from nbstream.engine import loop
from nbstream.engine.request import ChatRequest
from nbstream.engine.stream import ChatStream
from nbstream.errors import AuthError, KeyInRequestError
from nbstream.redact import check_body, configured_keys, redact, scrub
from nbstream.session import Session
from nbstream.settings import NbStream, resolve

from .conftest import SECRET_KEY
from .kernels import Kernel, clean_env

AZURE_KEY = "azure-SECRET-fedcba9876543210"
PROXY_KEY = "proxy-SECRET-00112233445566"


def chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is not None and id(current) not in seen:
            seen.add(id(current))
            yield current
            todo += [current.__cause__, current.__context__]


def everything_about(err: BaseException) -> str:
    """All a user or a tool could print of an exception and its chain."""
    parts = ["".join(traceback.format_exception(err))]
    for current in chain(err):
        parts += [repr(current), repr(current.args), repr(vars(current))]
        for name in ("response", "request"):
            message = getattr(current, name, None)
            if message is not None:
                parts += [repr(dict(message.headers))]
                parts += [message.text] if name == "response" else []
        parts += [repr(getattr(current, "body", None))]
    return "\n".join(parts)


# ---- redaction


def test_a_401_that_echoes_the_key_leaves_it_nowhere_in_the_exception_chain(server, log) -> None:
    settings = resolve(base_url=server.url, api_key=PROXY_KEY, model="fault-401", environ={})
    stream = ChatStream(ChatRequest([{"role": "user", "content": "hi"}], "fault-401"), settings)
    with pytest.raises(AuthError) as caught:
        loop.run(stream.run())
    assert log.records[-1].authorization == f"Bearer {PROXY_KEY}"  # it was sent, and echoed
    shown = everything_about(caught.value)
    assert "Incorrect API key provided: pro…5566" in shown  # the server's message, masked
    assert PROXY_KEY not in shown
    assert any(type(e).__module__.startswith("openai") for e in chain(caught.value))


def test_a_401_through_the_session_hides_the_environments_keys_too(
    server, log, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    session = Session(NbStream(base_url=server.url, model="fault-401"))
    with pytest.raises(AuthError) as caught:
        nbstream.chat(f"the other key is {AZURE_KEY[:6]}", session=session)
    shown = everything_about(caught.value)
    assert SECRET_KEY not in shown and AZURE_KEY not in shown and "sk-…cdef" in shown


def test_scrub_reaches_every_part_of_a_chain_and_every_occurrence() -> None:
    try:
        try:
            raise ValueError(f"{SECRET_KEY} and again {SECRET_KEY}", {"k": [SECRET_KEY]})
        except ValueError as inner:
            inner.add_note(f"note {SECRET_KEY}")
            inner.body = {SECRET_KEY: (SECRET_KEY.encode(),)}  # type: ignore[attr-defined]
            raise RuntimeError("outer") from inner
    except RuntimeError as err:
        outer = scrub(err, [SECRET_KEY])
    inner = outer.__cause__
    assert inner is not None
    assert inner.args == ("sk-…cdef and again sk-…cdef", {"k": ["sk-…cdef"]})
    assert inner.__notes__ == ["note sk-…cdef"]
    assert inner.body == {"sk-…cdef": (b"sk-\xe2\x80\xa6cdef",)}  # type: ignore[attr-defined]


def test_short_placeholder_keys_are_not_secrets() -> None:
    env = {"OPENAI_API_KEY": "EMPTY", "AZURE_OPENAI_API_KEY": AZURE_KEY}
    assert configured_keys(PROXY_KEY, env) == [AZURE_KEY, PROXY_KEY]
    assert configured_keys(None, {"OPENAI_API_KEY": "none"}) == []
    assert redact("EMPTY is not a key", configured_keys(None, env)) == "EMPTY is not a key"


# ---- the guard


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"messages": [{"role": "user", "content": f"my key {SECRET_KEY}"}]}, "the prompt"),
        (
            {
                "messages": [
                    {"role": "system", "content": SECRET_KEY},
                    {"role": "user", "content": "hi"},
                ]
            },
            "the system prompt",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": f"x{SECRET_KEY}x"},
                    {"role": "user", "content": "and?"},
                ]
            },
            "the history (message 2, assistant)",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": SECRET_KEY}]}]},
            "the prompt",
        ),
        ({"messages": [], "nbstream": {"text": SECRET_KEY}}, "the request parameter 'nbstream'"),
        ({"messages": [], "metadata": {SECRET_KEY: 1}}, "the request parameter 'metadata'"),
        ({"messages": [], "stop": [b"x", SECRET_KEY.encode()]}, "the request parameter 'stop'"),
    ],
)
def test_the_guard_names_where_the_key_is(body: dict, where: str) -> None:
    with pytest.raises(KeyInRequestError) as caught:
        check_body(body, [SECRET_KEY])
    assert caught.value.message == f"not sent: {where} holds an API key"
    assert SECRET_KEY not in str(caught.value)


def test_a_body_without_a_key_passes_the_guard() -> None:
    check_body({"messages": [{"role": "user", "content": SECRET_KEY[:-1]}], "n": 1}, [SECRET_KEY])


@pytest.fixture
def session(server, log, monkeypatch) -> Session:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    return Session(NbStream(base_url=server.url, model="nbstream-demo"))


@pytest.mark.parametrize(
    ("prompt", "options", "where"),
    [
        (f"use {SECRET_KEY}", {}, "the prompt"),
        ("hi", {"system": f"key={SECRET_KEY}"}, "the system prompt"),
        ("hi", {"params": {"nbstream": {"text": SECRET_KEY}}}, "the request parameter 'nbstream'"),
        ("hi", {"user": SECRET_KEY}, "the request parameter 'user'"),
    ],
)
def test_a_turn_holding_the_key_sends_nothing_and_keeps_nothing(
    session, log, prompt, options, where
) -> None:
    with pytest.raises(KeyInRequestError, match=f"not sent: {where} holds an API key"):
        nbstream.chat(prompt, session=session, thread="t", **options)
    assert log.records == [] and session.store.thread("t").exchanges == []


def test_a_key_in_the_history_stops_the_next_turn(session, log) -> None:
    nbstream.chat("hi", session=session, thread="t", params={"nbstream": {"text": "fine"}})
    exchange = session.store.thread("t").exchanges[0]
    echoed = exchange.result.__class__(text=f"your key is {SECRET_KEY}")
    session.store.record("t", "what is my key?", echoed)
    with pytest.raises(KeyInRequestError, match=r"the history \(message 4, assistant\)"):
        nbstream.chat("and now?", session=session, thread="t")
    assert len(log.records) == 1 and len(session.store.thread("t").exchanges) == 2


# ---- in a kernel: the 401, %tb, and a key in a cell


@pytest.fixture(scope="module")
def kernel(server, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("secrets"))
    started.execute("%load_ext nbstream")
    yield started
    started.shutdown()


@pytest.mark.kernel
@pytest.mark.parametrize("mode", ["Context", "Verbose"])
def test_tb_after_a_401_shows_no_key_in_any_traceback_mode(kernel, log, mode) -> None:
    run = kernel.execute("%%chat -m fault-401\nhi")
    assert run.error["ename"] == "AuthError" and "sk-…cdef" in run.error["traceback"][0]
    tb = kernel.execute(f"%xmode {mode}\n%tb")
    kernel.execute("%xmode Context")
    assert "Incorrect API key provided" in tb.everything and "APIStatusError" in tb.everything
    assert SECRET_KEY not in run.everything and SECRET_KEY not in tb.everything


@pytest.mark.kernel
def test_a_key_read_into_a_variable_is_refused_in_one_line_and_not_sent(kernel, log) -> None:
    run = kernel.execute("import os\nk = os.environ['OPENAI_API_KEY']")
    run = kernel.execute("%%chat -t guard\nPlease remember {k}")
    assert run.error["ename"] == "KeyInRequestError"
    assert run.error["traceback"][0].splitlines()[0] == (
        "KeyInRequestError: not sent: the prompt holds an API key"
    )
    assert SECRET_KEY not in run.everything and log.records == []
    history = kernel.execute("%chat history -t guard")
    assert "Please remember" not in history.everything


@pytest.mark.kernel
def test_os_environ_in_a_cell_stays_text_and_a_raising_field_is_one_notice(kernel, log) -> None:
    kernel.execute(
        "import os\nclass P:\n    @property\n    def v(self): raise ValueError('no')\np = P()"
    )
    run = kernel.execute("%%chat --no-history\n{os.environ[OPENAI_API_KEY]} and {p.v}")
    assert run.reply["status"] == "ok" and run.error is None
    sent = log.records[-1].body["messages"][-1]["content"]
    assert sent == "{os.environ[OPENAI_API_KEY]} and {p.v}"
    assert run.text == "nbstream: {p.v} left as text: ValueError: no\n"
    assert SECRET_KEY not in run.everything


def test_a_key_in_the_sdks_log_records_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    Session()  # a session puts the key filter on the SDK's and HTTP libraries' loggers
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    logger = logging.getLogger("openai")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Request options: %s", {"headers": {"Authorization": f"Bearer {SECRET_KEY}"}})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert len(seen) == 1 and SECRET_KEY not in seen[0] and "Bearer sk-…cdef" in seen[0]
