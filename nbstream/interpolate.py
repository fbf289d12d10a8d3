"""`{name}` in a prompt becomes the value of `name`, only when it resolves.

Everything else stays byte for byte: code with braces, JSON, `{x:>10}`, `{0}`. `{{name}}`
is the escape for a literal `{name}`. (A plain `str.format_map` crashes on any code.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PATH = r"[A-Za-z_]\w*(?:\.[A-Za-z]\w*|\[[^\[\]{}\n]+\])*"
_FIELD = re.compile(rf"\{{\{{(?P<escaped>{_PATH})\}}\}}|\{{(?P<path>{_PATH})\}}")
_STEP = re.compile(r"\.([A-Za-z]\w*)|\[([^\[\]]+)\]")
_MISSING = object()


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace each resolvable `{path}` with `str(value)`; leave the rest untouched."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "{" + match.group("escaped") + "}"
        value = resolve(match.group("path"), namespace)
        return match.group(0) if value is _MISSING else str(value)

    return _FIELD.sub(replace, text)


def resolve(path: str, namespace: Mapping[str, Any]) -> Any:
    """The value at `path` (`name`, `name.attr`, `name[key]`, `In[3]`), or a sentinel."""
    name = re.match(r"[A-Za-z_]\w*", path)
    assert name is not None
    value = namespace.get(name.group(0), _MISSING)
    for step in _STEP.finditer(path, name.end()):
        if value is _MISSING:
            break
        attr, key = step.groups()
        value = getattr(value, attr, _MISSING) if attr else _item(value, key)
    return value


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
