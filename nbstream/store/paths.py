"""Where a notebook's conversations and cache live, and how paths are shown in messages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: The conversation database of a folder's notebooks, in `.nbstream/` beside them.
DATABASE = "conversations.sqlite"


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
    """The database holding the conversations of every notebook in `notebook`'s folder."""
    return notebook.parent / ".nbstream" / DATABASE


def legacy_path(notebook: Path) -> Path:
    """Where nbstream before the database kept a notebook's conversations."""
    return notebook.parent / ".nbstream" / f"{notebook.stem}.json"
