"""Real IPython kernels for tests, driven through jupyter_client."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

_OURS = ("OPENAI_", "AZURE_OPENAI_", "NBSTREAM_", "JPY_SESSION_NAME")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any model settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(extra)
    return env


@dataclass
class Execution:
    """What one execute request produced on IOPub, with receive times."""

    messages: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)
    sent: float = 0.0
    idle: float = 0.0

    @property
    def span(self) -> float:
        """Seconds from sending the cell to its idle status: they enclose all the kernel's work
        on it, so a rate bound against them holds however slow a busy machine makes it."""
        return self.idle - self.sent

    def of(self, *kinds: str) -> list[dict[str, Any]]:
        return [content for _, kind, content in self.messages if kind in kinds]

    @property
    def outputs(self) -> list[tuple[float, str, dict[str, Any]]]:
        kinds = ("stream", "display_data", "update_display_data", "execute_result", "error")
        return [m for m in self.messages if m[1] in kinds]

    @property
    def final(self) -> dict[str, Any]:
        """The last display or update: what a saved notebook keeps for the display."""
        return self.of("display_data", "update_display_data")[-1]

    @property
    def text(self) -> str:
        """Everything printed (stdout and stderr)."""
        return "".join(c["text"] for c in self.of("stream"))

    @property
    def error(self) -> dict[str, Any] | None:
        errors = self.of("error")
        return errors[-1] if errors else None

    @property
    def everything(self) -> str:
        """All output as one string, to check what must never appear."""
        return json.dumps([m[2] for m in self.messages]) + json.dumps(self.reply)


class Kernel:
    """A started IPython kernel with a blocking client."""

    def __init__(self, env: dict[str, str], cwd: Path | None = None) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.env, self.cwd = env, cwd
        self.manager.start_kernel(env=env, cwd=str(cwd) if cwd else None)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(self, code: str, *, cell_id: str | None = None, timeout: float = 60) -> Execution:
        """Run `code` like a notebook cell (with its cell id in the metadata) and collect."""
        client = self.client
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}  # fmt: skip
        metadata = {"cellId": cell_id} if cell_id else {}
        message = client.session.msg("execute_request", content, metadata=metadata)
        run = Execution(sent=time.monotonic())
        client.shell_channel.send(message)
        msg_id = message["header"]["msg_id"]
        deadline = time.monotonic() + timeout
        while True:
            msg = client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                run.idle = time.monotonic()
                break
            run.messages.append((time.monotonic(), kind, msg["content"]))
        while True:
            reply = client.get_shell_msg(timeout=10)
            if reply["parent_header"].get("msg_id") == msg_id:
                run.reply = reply["content"]
                return run

    def start(self, code: str) -> str:
        """Send `code` without waiting; returns the msg_id (collect with `collect`)."""
        return self.client.execute(code)

    def collect(self, msg_id: str, timeout: float = 30) -> Execution:
        """Collect the IOPub messages of an execution started with `start`."""
        run = Execution()
        deadline = time.monotonic() + timeout
        while True:
            msg = self.client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                run.idle = time.monotonic()
                return run
            run.messages.append((time.monotonic(), msg["msg_type"], msg["content"]))

    def wait_for_output(self, msg_id: str, text: str, timeout: float) -> None:
        """Read IOPub until an output of `msg_id` shows `text` (then `collect` goes on)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if text in msg["content"].get("data", {}).get("text/plain", ""):
                return

    def restart(self) -> None:
        """Restart the kernel process (state in memory is gone)."""
        self.manager.restart_kernel(now=True)
        self.client.wait_for_ready(timeout=60)

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
