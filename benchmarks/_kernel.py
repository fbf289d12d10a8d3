"""A real IPython kernel for benchmarks: shell through jupyter_client, IOPub through a recorder.

The kernel's IOPub channel is read by a dedicated zmq SUB socket on a thread of this process
that only stamps each message with `time.monotonic()` on receipt; it is parsed after the cell.
For the executing cell (messages whose parent is its execute_request):

* output messages = stream, display_data, update_display_data, execute_result, error;
* bytes = length of each output message's content frame, i.e. the JSON of `content` exactly
  as the kernel sent it (UTF-8);
* peak msgs/s and peak bytes/s = the most messages / bytes received in any 1 s window;
* wall time = from sending execute_request to receiving its execute_reply;
* CPU = the kernel process's CPU seconds (every thread, /proc/PID/task/*/schedstat) meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.manager import start_new_kernel

OUTPUT_TYPES = {"stream", "display_data", "update_display_data", "execute_result", "error"}
IGNORED_TYPES = {"status", "execute_input"}


@dataclass
class Message:
    received: float
    kind: str
    content: bytes  # the content frame: JSON as sent

    def json(self) -> dict[str, Any]:
        return json.loads(self.content)


@dataclass
class Run:
    """One execute request and what it produced on IOPub."""

    sent: float
    cpu: float = 0.0  # the kernel process's CPU seconds during the cell
    replied: float = 0.0
    idle: float = 0.0
    reply: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return self.replied - self.sent

    @property
    def outputs(self) -> list[Message]:
        return [m for m in self.messages if m.kind in OUTPUT_TYPES]

    @property
    def output_bytes(self) -> int:
        return sum(len(m.content) for m in self.outputs)

    def peak(self, by_bytes: bool = False, window: float = 1.0) -> float:
        """Most output messages (or bytes) received in any `window`-second window."""
        outs = self.outputs
        times = [m.received for m in outs]
        weights = [len(m.content) if by_bytes else 1 for m in outs]
        best = total = 0
        j = 0
        for i, start in enumerate(times):
            while j < len(times) and times[j] < start + window:
                total += weights[j]
                j += 1
            best = max(best, total)
            total -= weights[i]
        return best


class IOPubRecorder(threading.Thread):
    """Receives every IOPub message of a kernel, stamped on receipt, grouped by parent."""

    def __init__(self, connection: Mapping[str, Any]) -> None:
        super().__init__(name="iopub-recorder", daemon=True)
        self._sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        self._sock.setsockopt(zmq.RCVHWM, 0)  # never drop on our side
        self._sock.setsockopt(zmq.SUBSCRIBE, b"")
        transport, ip = connection["transport"], connection["ip"]
        self._sock.connect(f"{transport}://{ip}:{connection['iopub_port']}")
        self._by_parent: dict[str, list[Message]] = defaultdict(list)
        self._idle: dict[str, float] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._stopping.is_set():
            if not poller.poll(100):
                continue
            while True:
                try:
                    frames = self._sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.monotonic()
                delim = frames.index(b"<IDS|MSG>")
                header, parent = json.loads(frames[delim + 2]), json.loads(frames[delim + 3])
                kind, parent_id = header["msg_type"], parent.get("msg_id", "")
                content = frames[delim + 5]
                with self._changed:
                    if kind == "status":
                        if b'"idle"' in content:
                            self._idle[parent_id] = now
                            self._changed.notify_all()
                    elif kind not in IGNORED_TYPES:
                        self._by_parent[parent_id].append(Message(now, kind, content))
                        self._changed.notify_all()
        self._sock.close(linger=0)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=2)

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def wait_idle(self, msg_id: str, timeout: float) -> float:
        if not self.wait(lambda: msg_id in self._idle, timeout):
            raise TimeoutError(f"no idle status for {msg_id} within {timeout} s")
        return self._idle[msg_id]

    def take(self, msg_id: str) -> list[Message]:
        """The messages of `msg_id`, forgetting them (update-per-chunk makes ~80 MB a run)."""
        with self._changed:
            self._idle.pop(msg_id, None)
            return self._by_parent.pop(msg_id, [])


def cpu_seconds(pid: int) -> float:
    """CPU time of all threads of process `pid` so far (Linux schedstat, ns precision)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


#: Where the kernels' stderr goes (their start-up warnings would clutter the table).
KERNEL_LOG = Path(tempfile.gettempdir()) / "nbstream-bench-kernels.log"


class Kernel:
    """A fresh IPython kernel: shell through jupyter_client, IOPub through the recorder."""

    def __init__(self, env: dict[str, str], record: bool = True) -> None:
        with KERNEL_LOG.open("a") as stderr:
            self.km, self.kc = start_new_kernel(
                startup_timeout=60, kernel_name="python3", env=env, stderr=stderr
            )
        self.pid: int | None = getattr(self.km.provisioner, "pid", None)
        self._cpu_at_send = 0.0
        self.recorder: IOPubRecorder | None = None
        if record:
            # The client's own IOPub socket would receive (and make the kernel send) a second
            # copy of everything; only the recorder listens.
            self.kc.iopub_channel.stop()
            self.recorder = IOPubRecorder(self.km.get_connection_info())
            self.recorder.start()
            self._wait_subscribed()

    def _wait_subscribed(self) -> None:
        # A SUB socket misses what is published before its subscription reaches the kernel.
        if self.recorder is None:
            return
        for _ in range(100):
            msg_id = self.kc.kernel_info()
            self._shell_reply(msg_id, 10)
            with contextlib.suppress(TimeoutError):
                self.recorder.wait_idle(msg_id, 0.2)
                return
        raise RuntimeError("the IOPub recorder never saw the kernel")

    def _shell_reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def send(self, code: str, user_expressions: dict[str, str] | None = None) -> tuple[str, float]:
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": user_expressions or {}, "allow_stdin": False,
                   "stop_on_error": True}  # fmt: skip
        msg = self.kc.session.msg("execute_request", content)
        self._cpu_at_send = cpu_seconds(self.pid) if self.pid else 0.0
        sent = time.monotonic()
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"], sent

    def finish(self, msg_id: str, sent: float, timeout: float = 600) -> Run:
        reply = self._shell_reply(msg_id, timeout)
        run = Run(sent=sent, replied=time.monotonic(), reply=reply["content"])
        if self.pid:
            run.cpu = cpu_seconds(self.pid) - self._cpu_at_send
        if self.recorder is not None:
            run.idle = self.recorder.wait_idle(msg_id, 10)
            run.messages = self.recorder.take(msg_id)
        return run

    def execute(self, code: str, **kwargs: Any) -> Run:
        timeout = kwargs.pop("timeout", 600)
        msg_id, sent = self.send(code, **kwargs)
        run = self.finish(msg_id, sent, timeout)
        if run.reply.get("status") != "ok":
            detail = run.reply.get("evalue") or run.reply.get("status")
            raise RuntimeError(f"cell failed: {detail}\n{code}")
        return run

    def take(self, msg_id: str) -> list[Message]:
        """Output messages of `msg_id` that arrived after its cell finished (background tasks)."""
        assert self.recorder is not None
        return [m for m in self.recorder.take(msg_id) if m.kind in OUTPUT_TYPES]

    def shutdown(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@contextlib.contextmanager
def kernel(env: dict[str, str], record: bool = True) -> Iterator[Kernel]:
    k = Kernel(env, record)
    try:
        yield k
    finally:
        k.shutdown()
