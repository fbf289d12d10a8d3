"""The suite's key scenarios run as a real notebook with a recognisable key; then every artefact
(outputs, the executed notebook, `%tb`, .nbstream/, exports, the cache, widget state, the
server's log of what was sent) is searched for it."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nbstream.offline.server import OfflineServer
from nbstream.store.paths import state_path

from .kernels import clean_env

pytestmark = pytest.mark.kernel

#: Recognisable, and long enough for any redaction that keeps a prefix and a suffix.
KEY = "sk-proj-NBSTREAM-LEAK-CANARY-7f3a9c2e5b1d"
AZURE = "azure-NBSTREAM-LEAK-CANARY-0d1e2f3a4b5c"
CANARIES = (KEY, AZURE, "LEAK-CANARY")

CELLS = [
    "%load_ext nbstream\n%chat cache record",
    "%%chat -t main\nHello there",
    "%%chat -t main -m fault-401\nHello again",
    "%tb",
    "%xmode Verbose\n%tb\n%xmode Context",
    "import os\nk = os.environ['OPENAI_API_KEY']",
    "%%chat -t main\nRemember {k}",
    "%%chat -t main -s 'the key is {k}'\nhi",
    "%%chat -t main -p user={k}\nhi",
    "%%chat -t main\n{os.environ[OPENAI_API_KEY]} {os.environ} {k.upper}",
    "%%chat -t main --no-stream\nThe last one",
    "%chat config",
    "%chat history -t main",
    "%chat export main.md -t main\n%chat export main.json -t main",
    "import nbstream, traceback\n"
    "try:\n    nbstream.chat('hi', model='fault-401')\n"
    "except Exception as err:\n    print(repr(err)); traceback.print_exc()",
    "panel = nbstream.ChatPanel('panel', model='fault-401')\npanel.send('hi')\n"
    "panel.wait(30)\npanel",
    "_chat",
]


def test_a_recognisable_key_is_in_no_artefact(server: OfflineServer, tmp_path: Path, monkeypatch):
    for name, value in clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY, AZURE_OPENAI_API_KEY=AZURE,
        NBSTREAM_MODEL="nbstream-demo", JPY_SESSION_NAME=str(tmp_path / "secrets.ipynb"),
    ).items():  # fmt: skip
        monkeypatch.setenv(name, value)
    server.log.clear()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = NotebookClient(
        notebook, timeout=120, allow_errors=True, store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )  # fmt: skip
    client.execute()
    nbformat.write(notebook, tmp_path / "secrets.ipynb")

    outputs = {i: json.dumps(c.get("outputs", [])) for i, c in enumerate(notebook.cells)}
    errors = {i: o["ename"] for i, c in enumerate(notebook.cells) for o in c.outputs
              if o.output_type == "error"}  # fmt: skip
    # The scenarios happened: a reply, the 401 and its %tb twice, the guard three times.
    assert errors == {2: "AuthError", 3: "AuthError", 4: "AuthError", 6: "KeyInRequestError",
                      7: "KeyInRequestError", 8: "KeyInRequestError"}, errors  # fmt: skip
    assert "Incorrect API key provided" in outputs[3] and "APIStatusError" in outputs[4]
    assert "AuthError" in outputs[14] and "Incorrect API key provided" in outputs[14]
    sent = json.dumps([record.body for record in server.log.records])
    assert "{os.environ[OPENAI_API_KEY]} {os.environ} {k.upper}" in sent  # as text
    assert (tmp_path / "main.md").exists() and (tmp_path / "main.json").exists()
    assert (tmp_path / ".nbstream" / "cache.sqlite").exists()
    assert state_path(tmp_path / "secrets.ipynb").exists()
    assert notebook.metadata.get("widgets")  # the panel's widget state was saved

    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        for canary in CANARIES:
            assert canary.encode() not in data, f"{canary} in {path.relative_to(tmp_path)}"
    assert not any(canary in sent for canary in CANARIES), "a key was sent to the server"
    # The one place it belongs: the Authorization header of the requests.
    assert {r.authorization for r in server.log.records} == {f"Bearer {KEY}"}
