"""The layout is the architecture: each package imports only what its room allows.

Data flows one way: settings → engine → session → store, with the show layer and the IPython
wiring on top and the offline server beside them (see README, "The code").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nbstream"

#: What each part must never import (module prefixes, after resolving relative imports).
FORBIDDEN = {
    "nbstream.engine": ("IPython", "ipywidgets", "anywidget", "nbstream.show", "nbstream.offline",
                        "nbstream.ipython", "nbstream.session", "nbstream.store"),
    "nbstream.store": ("IPython", "ipywidgets", "nbstream.show", "nbstream.ipython",
                       "nbstream.offline", "nbstream.session"),
    "nbstream.session": ("IPython", "ipywidgets", "nbstream.show", "nbstream.ipython"),
    "nbstream.offline": ("nbstream.engine", "nbstream.show", "nbstream.store", "nbstream.session",
                         "nbstream.ipython", "IPython", "ipywidgets"),
    "nbstream.tools": ("IPython", "ipywidgets", "nbstream.show", "nbstream.ipython",
                       "nbstream.offline", "nbstream.store", "nbstream.session"),
    "nbstream.context": ("IPython", "ipywidgets", "nbstream.show", "nbstream.ipython",
                         "nbstream.offline", "nbstream.session", "nbstream.store"),
    "nbstream.scale": ("IPython", "ipywidgets", "nbstream.show", "nbstream.ipython",
                       "nbstream.offline"),
    "nbstream.settings": ("nbstream.engine", "nbstream.show", "nbstream.store",
                          "nbstream.session", "nbstream.ipython", "nbstream.offline"),
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file, relative imports resolved."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def rule_for(module: str) -> tuple[str, ...]:
    for owner, forbidden in FORBIDDEN.items():
        if module == owner or module.startswith(owner + "."):
            return forbidden
    return ()


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_each_module_imports_only_what_its_room_allows(path: Path) -> None:
    module = module_name(path)
    forbidden = rule_for(module)
    broken = sorted(
        name
        for name in imports_of(path)
        for prefix in forbidden
        if name == prefix or name.startswith(prefix + ".")
    )
    assert broken == [], f"{module} imports {broken}"


def test_the_rules_see_relative_imports() -> None:
    # A rule that cannot see `from ..show import x` would pass whatever the code does.
    engine_stream = PACKAGE / "engine" / "stream.py"
    assert "nbstream.engine.result" in imports_of(engine_stream)
    assert "nbstream.settings" in imports_of(engine_stream)
