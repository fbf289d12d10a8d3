"""`{name}` in a prompt becomes the value of `name`, only when it resolves to data.

Everything else stays byte for byte: code with braces, JSON, `{x:>10}`, `{0}`. `{{name}}`
is the escape for a literal `{name}`. (A plain `str.format_map` crashes on any code.)

A field resolves data only: a name from the user namespace, then items with literal keys or
indices and attributes not starting with `_`. A step that reaches a module, frame, code object,
function, method or traceback stops there, and the field stays as text: `{os.environ[KEY]}`
must not be a way to read the process's secrets into a prompt, nor `{tb.tb_frame.f_globals}`
a way to walk from any object to every global. A field whose evaluation raises (a property, a
`__str__`) stays as text too, and `notice` gets one line saying why.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable, Mapping
from typing import Any

_PATH = r"[A-Za-z_]\w*(?:\.[A-Za-z]\w*|\[[^\[\]{}\n]+\])*"
_FIELD = re.compile(rf"\{{\{{(?P<escaped>{_PATH})\}}\}}|\{{(?P<path>{_PATH})\}}")
_STEP = re.compile(r"\.([A-Za-z]\w*)|\[([^\[\]]+)\]")
_MISSING = object()
_CODE_TYPES = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType)


def interpolate(
    text: str,
    namespace: Mapping[str, Any],
    notice: Callable[[str], None] = lambda line: None,
    *,
    convert: Callable[[Any], str] = str,
) -> str:
    """Replace each `{path}` that resolves to data with `convert(value)` (`str` unless
    `nbstream.context` turns tables and figures into context); leave the rest untouched."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "{" + match.group("escaped") + "}"
        path = match.group("path")
        try:
            value = resolve(path, namespace)
            return match.group(0) if value is _MISSING else convert(value)
        except Exception as err:  # user code (a property, __str__, __getitem__) may raise anything
            notice(f"{{{path}}} left as text: {type(err).__name__}: {_first_line(err)}")
            return match.group(0)

    return _FIELD.sub(replace, text)


def resolve(path: str, namespace: Mapping[str, Any]) -> Any:
    """The data at `path` (`name`, `name.attr`, `name[key]`, `In[3]`), or a sentinel when it does
    not resolve or passes through code (a module, a function, a frame, ...)."""
    name = re.match(r"[A-Za-z_]\w*", path)
    assert name is not None
    value = namespace.get(name.group(0), _MISSING)
    # Starting after the name only saves work: a name holds no `.` or `[` for a step to match
    # (mutation testing keeps `finditer(path)` alive for that reason).
    for step in _STEP.finditer(path, name.end()):
        if value is _MISSING or is_code(value):
            return _MISSING
        attr, key = step.groups()
        value = getattr(value, attr, _MISSING) if attr else _item(value, key)
    return _MISSING if is_code(value) else value


def is_code(value: Any) -> bool:
    """True for what is not data: modules, frames, code, tracebacks, any callable routine."""
    return isinstance(value, _CODE_TYPES) or inspect.isroutine(value)


def _item(container: Any, key: str) -> Any:
    key = key.strip()
    candidates: list[Any] = [key[1:-1]] if key[:1] == key[-1:] and key[:1] in "'\"" else []
    if not candidates:
        candidates = [int(key), key] if re.fullmatch(r"-?\d+", key) else [key]
    for candidate in candidates:
        try:
            return container[candidate]
        except (KeyError, IndexError, TypeError):
            continue
    return _MISSING


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else "(no message)"
