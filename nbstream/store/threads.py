"""Per-notebook conversation threads: the only place chat history lives.

`ConversationStore` keeps named threads of exchanges in memory and, when given a path,
saves the whole store atomically after every change. Files it cannot use are set aside,
never deleted, so a bad file costs a warning rather than a conversation.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..engine.result import ChatResult, Status
from ..errors import StateFileError, ThreadBusyError

FORMAT = "nbstream-conversations"
VERSION = 1
DEFAULT = "default"
_SAVED_KEYS = ("user", "cell_id", "turn_id", "created")  # plus "result", via to_dict()


@dataclass(frozen=True)
class Exchange:
    """One user message and the reply it got (possibly partial)."""

    user: str
    result: ChatResult
    cell_id: str | None = None
    turn_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)

    @property
    def status(self) -> Status:
        """How the reply ended."""
        return self.result.status


@dataclass
class Thread:
    """A named conversation: an optional system prompt and its exchanges in order."""

    name: str
    system: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)


class _Unusable(StateFileError):
    """A state file that must be set aside; `reason` goes into the set-aside name."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConversationStore:
    """Named conversation threads, optionally persisted to one JSON file.

    Every public method holds one re-entrant lock, so a chat panel's background thread
    and the cells on the main thread can share a store.
    """

    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.time):
        self._path = Path(path) if path is not None else None
        self._clock = clock
        self._lock = threading.RLock()
        self._threads: dict[str, Thread] = {}
        self._busy: set[str] = set()
        self._save_failed = False
        self.warnings: list[str] = []
        self.restored = 0

    @classmethod
    def open(cls, path: Path, *, clock: Callable[[], float] = time.time) -> ConversationStore:
        """A store saving to `path`, loaded from it if it exists; never raises for a bad file."""
        store = cls(path, clock=clock)
        store._load()
        return store

    @property
    def path(self) -> Path | None:
        """Where changes are saved, or None when the store is in memory only."""
        return self._path

    def thread(self, name: str = DEFAULT) -> Thread:
        """A snapshot copy of a thread (empty if it does not exist yet)."""
        with self._lock:
            live = self._threads.get(name) or Thread(name)
            return Thread(live.name, live.system, list(live.exchanges))

    def threads(self) -> list[str]:
        """Thread names in the order they were created."""
        with self._lock:
            return list(self._threads)

    def messages(
        self, name: str, user: str, *, limit: int | None = None, cell_id: str | None = None
    ) -> list[dict[str, Any]]:
        """System prompt, past exchanges (before `cell_id`'s, the last `limit`), then `user`.
        An assistant message keeps its reasoning items for the APIs that want them back."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        with self._lock:
            thread = self.thread(name)
        history = thread.exchanges
        index = _index_of(history, cell_id)
        if index is not None:  # a re-run cell gets the context it first saw
            history = history[:index]
        pairs = [(ex, reply) for ex in history if (reply := _reply_content(ex.result))]
        if limit is not None:
            pairs = pairs[-limit:] if limit else []
        sent: list[dict[str, Any]] = []
        if thread.system:
            sent.append({"role": "system", "content": thread.system})
        for ex, reply in pairs:
            items = {"reasoning_items": list(ex.result.reasoning_items)}
            answer = {
                "role": "assistant",
                "content": reply,
                **(items if items["reasoning_items"] else {}),
            }
            sent += [{"role": "user", "content": ex.user}, answer]
        sent.append({"role": "user", "content": user})
        return sent

    def summary(self, name: str = DEFAULT) -> str:
        """One line such as '3 turns, 1 interrupted'."""
        exchanges = self.thread(name).exchanges
        if not exchanges:
            return "no turns"
        parts = [f"{len(exchanges)} turn{'s' if len(exchanges) != 1 else ''}"]
        for status in Status:
            count = sum(ex.status is status for ex in exchanges)
            if status is not Status.COMPLETE and count:
                parts.append(f"{count} {status.value}")
        return ", ".join(parts)

    def set_system(self, name: str, text: str | None) -> None:
        """Set or clear (None or '') the thread's system prompt."""
        with self._lock:
            self._live(name).system = text or None
            self._save()

    def record(
        self,
        name: str,
        user: str,
        result: ChatResult,
        *,
        cell_id: str | None = None,
        turn_id: str | None = None,
    ) -> Exchange:
        """Append an exchange; one with the same `cell_id` is replaced where it stands."""
        with self._lock:
            exchange = Exchange(user, result, cell_id=cell_id, created=self._clock())
            if turn_id:
                exchange = replace(exchange, turn_id=turn_id)
            exchanges = self._live(name).exchanges
            index = _index_of(exchanges, cell_id)
            if index is None:
                exchanges.append(exchange)
            else:
                exchanges[index] = exchange
            self._save()
            return exchange

    def fork(self, name: str, new_name: str) -> None:
        """Make `new_name` a copy of thread `name` (system prompt and exchanges), replacing it."""
        with self._lock:
            source = self._threads.get(name) or Thread(name)
            self._threads[new_name] = Thread(new_name, source.system, list(source.exchanges))
            self._save()

    def undo(self, name: str = DEFAULT) -> Exchange | None:
        """Remove and return the thread's last exchange (None if it has none)."""
        with self._lock:
            live = self._threads.get(name)
            if live is None or not live.exchanges:
                return None
            exchange = live.exchanges.pop()
            self._save()
            return exchange

    def reset(self, name: str = DEFAULT) -> None:
        """Forget the thread's exchanges; its system prompt stays."""
        with self._lock:
            live = self._threads.get(name)
            if live is not None and live.exchanges:
                live.exchanges.clear()
                self._save()

    @contextlib.contextmanager
    def turn(self, name: str = DEFAULT) -> Iterator[None]:
        """Guard one in-flight turn per thread; a second one raises ThreadBusyError at once."""
        with self._lock:
            if name in self._busy:
                raise ThreadBusyError(
                    f"a reply is already streaming on thread {name!r}",
                    hint="wait for it to finish or press Stop, or use another thread (-t NAME)",
                )
            self._busy.add(name)
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(name)

    def export_markdown(self, name: str = DEFAULT) -> str:
        """A readable transcript of the thread."""
        with self._lock:
            thread, summary = self.thread(name), self.summary(name)
        parts = [f"# Conversation `{name}`", f"*{summary}*"]
        if thread.system:
            parts += ["### System", thread.system]
        for exchange in thread.exchanges:
            parts += ["### You", exchange.user, *_markdown_reply(exchange.result)]
        return "\n\n".join(parts) + "\n"

    def export_json(self, name: str = DEFAULT) -> str:
        """The thread as JSON, results in `ChatResult.to_dict()` form."""
        thread = self.thread(name)
        record = {"thread": name, **_thread_record(thread)}
        return json.dumps(record, indent=2, ensure_ascii=False) + "\n"

    def export(self, path: Path | str, name: str = DEFAULT) -> Path:
        """Write the thread to `path` as Markdown (.md, .markdown) or JSON (.json)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".md", ".markdown"):
            text = self.export_markdown(name)
        elif suffix == ".json":
            text = self.export_json(name)
        else:
            raise ValueError(f"cannot export to {path.name!r}: use a .md or .json file name")
        _write_atomic(path, text)
        return path

    def _live(self, name: str) -> Thread:
        if not name:
            raise ValueError("a thread name cannot be empty")
        return self._threads.setdefault(name, Thread(name))

    def _save(self) -> None:
        if self._path is None:
            return
        threads = {name: _thread_record(t) for name, t in self._threads.items()}
        record = {"format": FORMAT, "version": VERSION, "threads": threads}
        try:
            _write_atomic(self._path, json.dumps(record, indent=1, ensure_ascii=False))
        except OSError as exc:
            # Warn once per run of failures; the conversation carries on in memory.
            if not self._save_failed:
                self.warnings.append(
                    f"nbstream: could not save {short_path(self._path)} ({exc}); "
                    "keeping the conversation in memory only"
                )
            self._save_failed = True
        else:
            self._save_failed = False

    def _load(self) -> None:
        assert self._path is not None
        try:
            self._threads = _parse(self._path.read_bytes())
        except FileNotFoundError:
            return
        except OSError as exc:
            self._set_aside(_Unusable("unreadable", f"could not be read ({exc.strerror or exc})"))
        except _Unusable as exc:
            self._set_aside(exc)
        self.restored = sum(len(t.exchanges) for t in self._threads.values())

    def _set_aside(self, problem: _Unusable) -> None:
        assert self._path is not None
        shown = short_path(self._path)
        try:
            kept = _rename_aside(self._path, problem.reason, self._clock())
        except OSError as exc:
            # Saving now would overwrite the only copy of what we could not read.
            self._path = None
            self.warnings.append(
                f"nbstream: {shown} {problem.message} and could not be set aside ({exc}); "
                "starting a fresh conversation that will not be saved"
            )
            return
        self.warnings.append(
            f"nbstream: {shown} {problem.message}; set aside as {kept.name}; "
            "starting a fresh conversation"
        )


def _index_of(exchanges: list[Exchange], cell_id: str | None) -> int | None:
    if cell_id is None:
        return None
    return next((i for i, ex in enumerate(exchanges) if ex.cell_id == cell_id), None)


def _reply_content(result: ChatResult) -> str:
    # Partial text is still what the user saw; a refusal stands in for missing text.
    return result.text or result.refusal or ""


def _markdown_reply(result: ChatResult) -> list[str]:
    heading = "### Assistant"
    if result.status is not Status.COMPLETE:
        heading += f" ({result.status.value}{': ' + result.error if result.error else ''})"
    body = [result.text] if result.text else []
    if result.refusal:
        body.append(f"> refused: {result.refusal}")
    body += [f"- tool call `{call.name}({call.arguments})`" for call in result.tool_calls]
    usage = result.usage
    footer = (
        f"*{result.model or 'unknown model'} · {usage.prompt_tokens} prompt + "
        f"{usage.completion_tokens} completion tokens{' (estimated)' if usage.estimated else ''}*"
    )
    return [heading, *(body or ["*(no reply)*"]), footer]


def _thread_record(thread: Thread) -> dict[str, Any]:
    exchanges = [
        {**{key: getattr(ex, key) for key in _SAVED_KEYS}, "result": ex.result.to_dict()}
        for ex in thread.exchanges
    ]
    return {"system": thread.system, "exchanges": exchanges}


def _parse(data: bytes) -> dict[str, Thread]:
    """The threads in a state file's bytes; raises _Unusable when they cannot be used."""
    try:
        record = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _Unusable("corrupt", "was corrupt (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _Unusable("corrupt", f"was corrupt ({exc.msg}: {where})") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise _Unusable("foreign", "is not an nbstream conversation file")
    version = record.get("version")
    if not isinstance(version, int) or version < 1:
        raise _Unusable("corrupt", f"was corrupt (bad version {version!r})")
    if version > VERSION:
        raise _Unusable("newer", f"was written by a newer nbstream (format version {version})")
    try:
        return {name: _thread_from(name, t) for name, t in record["threads"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _Unusable("corrupt", f"was corrupt ({type(exc).__name__}: {exc})") from exc


def _thread_from(name: str, record: dict[str, Any]) -> Thread:
    exchanges = [
        Exchange(
            user=_typed(ex["user"], str),
            result=ChatResult.from_dict(ex["result"]),
            cell_id=_typed(ex.get("cell_id"), (str, type(None))),
            turn_id=_typed(ex["turn_id"], str),
            created=float(ex["created"]),
        )
        for ex in record.get("exchanges") or ()
    ]
    return Thread(name, _typed(record.get("system"), (str, type(None))), exchanges)


def _typed(value: Any, kind: type | tuple[type, ...]) -> Any:
    # A wrongly typed field would otherwise surface later, in a request to the server.
    if not isinstance(value, kind):
        raise TypeError(f"unexpected {type(value).__name__} value {value!r:.40}")
    return value


def _write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step; no temp file survives a failure."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # Prompts and replies are private; mkstemp's 0600 is asserted, not assumed.
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _rename_aside(path: Path, reason: str, now: float) -> Path:
    """Move `path` to a fresh `<stem>.<reason>-<stamp>.json` beside it and return that."""
    base = f"{path.stem}.{reason}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}"
    candidates = (path.with_name(f"{base}{'' if n == 1 else f'-{n}'}.json") for n in range(1, 1000))
    target = next(c for c in candidates if not c.exists())
    os.rename(path, target)
    return target


def short_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it, for messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def notebook_path(
    environ: Mapping[str, str], user_ns: Mapping[str, object], *, cwd: Path | None = None
) -> Path | None:
    """The running notebook's path from VS Code's namespace or Jupyter's session, if known."""
    vscode = user_ns.get("__vsc_ipynb_file__")
    if isinstance(vscode, str) and vscode:
        return _resolve(Path(vscode), cwd)
    session = environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb"):
        return _resolve(Path(session), cwd)
    return None


def _resolve(path: Path, cwd: Path | None) -> Path:
    # A relative name is relative to the server root, but the kernel runs in the
    # notebook's own directory, so only the file name is meaningful here.
    return path if path.is_absolute() else (cwd or Path.cwd()) / path.name


def state_path(notebook: Path) -> Path:
    """Where a notebook's conversations are saved: `.nbstream/<stem>.json` beside it."""
    return notebook.parent / ".nbstream" / f"{notebook.stem}.json"
