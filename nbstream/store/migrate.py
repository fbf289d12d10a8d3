"""Importing a notebook's conversations from the JSON file nbstream kept before the database.

The file is imported once, in one transaction, then renamed `<name>.imported-<stamp>`; it is
never deleted. A file that cannot be used is set aside the same way, with a warning. Exchanges
that do not validate are skipped, each named in a warning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .db import set_aside
from .paths import short_path
from .records import Exchange, InvalidRow, exchange_from_row
from .rows import Op

if TYPE_CHECKING:
    from .threads import ConversationStore

FORMAT = "nbstream-conversations"
VERSION = 1


class _Unusable(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def import_legacy(store: ConversationStore, path: Path, now: float) -> None:
    """Import `path` into `store` if it exists, then rename it; warnings go to the store."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        store.warnings.append(f"nbstream: {short_path(path)} could not be read ({exc.strerror})")
        return
    try:
        ops = parse(data, store.warnings)
    except _Unusable as exc:
        _rename(store, path, exc.reason, str(exc), now)
        return
    if store.write_all(ops):
        _rename(store, path, "imported", f"was imported into {short_path(store.path or path)}", now)
    else:
        store.warnings.append(
            f"nbstream: could not import {short_path(path)} yet ({store.problem}); "
            "it is imported at the next %load_ext"
        )


def _rename(store: ConversationStore, path: Path, reason: str, said: str, now: float) -> None:
    shown = short_path(path)
    try:
        kept = set_aside(path, reason, now)
    except OSError as exc:
        store.warnings.append(f"nbstream: {shown} {said} but could not be renamed ({exc})")
        return
    if reason != "imported":
        store.warnings.append(f"nbstream: {shown} {said}; set aside as {kept.name}")


def parse(data: bytes, warnings: list[str]) -> list[Op]:
    """The changes that rebuild a legacy file's threads; raises _Unusable for a bad file."""
    try:
        record = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _Unusable("corrupt", "was corrupt (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _Unusable("corrupt", f"was corrupt ({exc.msg}: {where})") from exc
    except RecursionError:
        raise _Unusable("corrupt", "was corrupt (nested too deeply)") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise _Unusable("foreign", "is not an nbstream conversation file")
    version = record.get("version")
    if not isinstance(version, int) or version < 1:
        raise _Unusable("corrupt", f"was corrupt (bad version {version!r})")
    if version > VERSION:
        raise _Unusable("newer", f"was written by a newer nbstream (format version {version})")
    threads = record.get("threads")
    if not isinstance(threads, dict):
        raise _Unusable("corrupt", "was corrupt (no threads)")
    ops: list[Op] = []
    for name, thread in threads.items():
        ops += _thread_ops(str(name), thread, warnings)
    return ops


def _thread_ops(name: str, thread: Any, warnings: list[str]) -> list[Op]:
    if not name or not isinstance(thread, dict):
        warnings.append(f"nbstream: thread {name!r} skipped: not a thread record")
        return []
    system = thread.get("system")
    ops = [Op("system", name, system=system if isinstance(system, str) else None)]
    exchanges = thread.get("exchanges")
    for number, raw in enumerate(exchanges if isinstance(exchanges, list) else ()):
        try:
            ops.append(Op("record", name, exchange=_exchange(raw)))
        except InvalidRow as exc:
            warnings.append(f"nbstream: exchange {number} of thread {name!r} skipped: {exc}")
    return ops


def _exchange(raw: Any) -> Exchange:
    if not isinstance(raw, dict):
        raise InvalidRow("not an exchange record")
    try:
        parts = json.dumps({"v": 1, "user": raw.get("user"), "result": raw.get("result")})
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRow(str(exc)) from None
    return exchange_from_row(parts, raw.get("cell_id"), raw.get("turn_id"), raw.get("created"))
