"""Any exception ends the live output with one line and a hint; interrupts show the user's frames
only; `%chat export` writes only where it should."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

import nbstream
from nbstream.engine.foreign import unexpected
from nbstream.errors import BadInputError, ConfigError, UnexpectedError
from nbstream.session import Session
from nbstream.settings import NbStream

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ---- the mapping, in this process


@pytest.mark.parametrize(
    ("raised", "kind", "line"),
    [
        (UnicodeEncodeError("utf-8", "a\ud800b", 1, 2, "surrogates not allowed"), BadInputError,
         "not sent: the request holds '\\ud800', which cannot be encoded (surrogates not allowed)"),
        (ValueError("Out of range float values are not JSON compliant: nan"), BadInputError,
         "not sent: a parameter is NaN or infinite, which JSON cannot carry"),
        (ValueError("Must provide either the `api_version` argument or the `OPENAI_API_VERSION` "
                    "environment variable"), ConfigError,
         "Azure OpenAI needs an API version, and none is set"),
        (RuntimeError("deep inside\nsecond line"), UnexpectedError, "RuntimeError: deep inside"),
        (KeyError(), UnexpectedError, "KeyError: (no message)"),
    ],
)  # fmt: skip
def test_a_foreign_exception_becomes_one_line_and_a_hint(raised, kind, line) -> None:
    mapped = unexpected(raised)
    assert type(mapped) is kind and mapped.message == line and mapped.hint
    assert "\n" not in mapped.message


def test_ours_pass_through_unchanged() -> None:
    ours = ConfigError("x", "y")
    assert unexpected(ours) is ours


@pytest.fixture
def session(server, log, monkeypatch) -> Session:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    return Session(NbStream(base_url=server.url, model="nbstream-demo"))


@pytest.mark.parametrize(
    ("prompt", "params", "kind"),
    [("a \ud800 b", {}, BadInputError), ("hi", {"n": float("nan")}, BadInputError)],
)
def test_unencodable_input_sends_nothing_and_keeps_nothing(
    session, log, prompt, params, kind
) -> None:
    with pytest.raises(kind) as caught:
        nbstream.chat(prompt, session=session, thread="t", params=params)
    assert isinstance(caught.value.__cause__, (UnicodeEncodeError, ValueError))
    assert log.records == [] and session.store.thread("t").exchanges == []


def test_azure_without_an_api_version_names_the_variable(monkeypatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NBSTREAM_BASE_URL", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-SECRET-fedcba9876543210")
    with pytest.raises(ConfigError, match="Azure OpenAI needs an API version") as caught:
        nbstream.chat("hi", session=Session(NbStream(model="gpt-4o")))
    assert "OPENAI_API_VERSION" in caught.value.hint


def test_gather_keeps_a_foreign_failure_on_its_item(session, log) -> None:
    results = nbstream.gather(["fine", "bad \ud800"], session=session)
    assert [r.status.value for r in results] == ["complete", "failed"]
    assert "cannot be encoded" in (results[1].error or "")


# ---- in a kernel: the live output ends, interrupts hide nbstream's frames, export


@pytest.fixture(scope="module")
def kernel(server, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("frozen"))
    started.execute("%load_ext nbstream\nlone = 'a \\ud800 b'")
    yield started
    started.shutdown()


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("cell", "ename", "line"),
    [
        ("%%chat -t frozen\n{lone}", "BadInputError", "cannot be encoded"),
        ("%%chat -t frozen -p n=NaN\nhi", "BadInputError", "NaN or infinite"),
    ],
)
def test_a_foreign_failure_ends_the_live_output_with_one_line(
    kernel, log, cell, ename, line
) -> None:
    run = kernel.execute(cell)
    assert run.error["ename"] == ename
    assert run.error["traceback"][0].startswith(f"{ename}: not sent:")
    assert "hint:" in run.error["traceback"][0] and "%tb" in run.error["traceback"][0]
    shown = run.final["data"]["text/plain"]
    assert "⏳" not in shown and "✖ failed" in shown  # the live output ended
    assert line in run.error["traceback"][0]
    assert log.records == []
    assert "frozen" not in kernel.execute("%chat threads").everything  # nothing recorded


def frames_shown(run) -> str:
    return ANSI.sub("", "\n".join(run.error["traceback"]))


@pytest.mark.kernel
@pytest.mark.parametrize(
    "cell",
    [
        '%%chat -t intr -p nbstream=\'{"tokens": 1000, "rate": 20}\'\nlong',
        "def helper():\n    return nbstream.chat('x', thread='intr2',\n"
        "        params={'nbstream': {'tokens': 1000, 'rate': 20}})\nimport nbstream\nhelper()",
    ],
)
def test_an_interrupt_shows_no_nbstream_frames(kernel, log, cell) -> None:
    msg_id = kernel.start(cell)
    assert log.wait_for(lambda r: bool(r) and r[-1].chunks_sent >= 5, HANG)
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=HANG)
    shown = frames_shown(run)
    assert run.error["ename"] == "KeyboardInterrupt"
    assert "nbstream/" not in shown and "site-packages" not in shown, shown
    assert "Cell In[" in shown  # the user's own frames are still there
    assert ("helper()" in shown) == ("def helper" in cell)


@pytest.mark.kernel
def test_an_interrupt_of_the_users_own_code_keeps_its_whole_traceback(kernel) -> None:
    msg_id = kernel.start(
        "import time\ndef nap():\n    display('napping')\n    time.sleep(60)\nnap()"
    )
    kernel.wait_for_output(msg_id, "napping", timeout=HANG)
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=HANG)
    assert run.error["ename"] == "KeyboardInterrupt"
    assert "nap()" in frames_shown(run) and "time.sleep(60)" in frames_shown(run)


@pytest.mark.kernel
def test_export_never_overwrites_without_force_nor_writes_into_nbstream(kernel, tmp_path) -> None:
    kernel.execute('%%chat -t ex -p nbstream=\'{"text": "exported words"}\'\nhi')
    target = tmp_path / "t.md"
    target.write_text("precious")
    refused = kernel.execute(f"%chat export -t ex {target}")
    assert refused.reply["status"] == "error" and "exists: add --force" in refused.text
    assert target.read_text() == "precious"
    assert "wrote" in kernel.execute(f"%chat export -t ex {target} --force").text
    assert "exported words" in target.read_text()

    cwd = kernel.cwd
    assert cwd is not None
    inside = kernel.execute("%chat export -t ex .nbstream/x.json")
    assert (
        "will not write into .nbstream/" in inside.text and not (cwd / ".nbstream/x.json").exists()
    )
    bad_paths = [
        (tmp_path / "no" / "such" / "t.md", "no folder"),
        (tmp_path, "is a folder"),
        (tmp_path / "t.txt", "use a .md or .json"),
    ]
    for bad, says in bad_paths:
        run = kernel.execute(f"%chat export -t ex {bad}")
        assert run.reply["status"] == "error" and says in run.text
        assert len(run.text.strip().splitlines()) == 1, run.text
