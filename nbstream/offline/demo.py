"""`nbstream demo`: run a notebook headless and echo each reply to the terminal as it streams."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any

import nbformat
from nbclient import NotebookClient

from ..errors import ConfigError

_MODEL_SETTINGS = ("OPENAI_", "AZURE_OPENAI_", "NBSTREAM_")


class EchoingClient(NotebookClient):
    """An nbclient that also writes each cell's output to a terminal while it runs."""

    def __init__(self, nb: Any, out: IO[str], **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self._out = out
        self._shown: dict[str, str] = {}
        self._count = 0  # code cells run so far: `In [N]` counts them as the kernel does
        self.on_cell_start = self._announce

    def _announce(self, cell: Any, cell_index: int) -> None:
        if cell.cell_type != "code" or not cell.source.strip():
            return
        self._count += 1
        prompt = f"In [{self._count}]: "
        more = "...: ".rjust(len(prompt))  # IPython's continuation prompt, aligned
        source = cell.source.strip().replace("\n", "\n" + more)
        dim, plain = ("\033[2m", "\033[0m") if self._out.isatty() else ("", "")
        self._out.write(f"\n{dim}{prompt}{source}{plain}\n")

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        """Echo the message, then let nbclient record it in the notebook."""
        self._echo(msg["msg_type"], msg["content"])
        return super().process_message(msg, cell, cell_index)

    def _echo(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "stream":
            self._out.write(content["text"])
        elif kind == "error":
            self._out.write(f"{content['ename']}: {content['evalue']}\n")
        elif kind in ("display_data", "update_display_data", "execute_result"):
            key = (content.get("transient") or {}).get("display_id") or str(id(content))
            self._show(key, content)
        self._out.flush()

    def _show(self, key: str, content: dict[str, Any]) -> None:
        text = content.get("data", {}).get("text/plain", "")
        final = not content.get("metadata", {}).get("nbstream_live")
        if not final:
            text = text.rpartition("\n")[0]  # the status line changes at every update
        elif "nbstream" in content.get("metadata", {}):
            reply, _, footer = text.rpartition("\n")
            text = f"{reply}\n\n{footer}" if reply else footer  # the footer apart, as in a cell
        shown = self._shown.get(key, "")
        if text.startswith(shown):
            self._out.write(text[len(shown) :])
        else:
            self._out.write("\n" + text)
        self._shown[key] = text
        if final:
            self._out.write("\n")


def run_demo(
    notebook: Path, output: Path, *, live: bool = False, out: IO[str] | None = None
) -> Path:
    """Execute `notebook` (on the offline backend unless `live`) and save the result."""
    if not notebook.exists():
        raise ConfigError(
            f"no notebook at {notebook}",
            "run `nbstream demo` from the nbstream checkout, or pass a notebook path",
        )
    nb = nbformat.read(notebook, as_version=4)
    env = dict(os.environ)
    if not live:
        env = {k: v for k, v in env.items() if not k.startswith(_MODEL_SETTINGS)}
    client = EchoingClient(
        nb,
        out or sys.stdout,
        timeout=300,
        kernel_name="python3",
        # ipykernel 7 warns about unencrypted TCP on every start; the kernel is on loopback.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    client.execute(env=env)
    tmp = output.with_name(f".{output.name}.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(output)
    return output
