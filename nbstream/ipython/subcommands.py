"""`%chat SUBCOMMAND`: history, threads, settings, usage, export, the cache and the panel."""

from __future__ import annotations

import os
import shlex
from enum import Enum
from pathlib import Path

from IPython.core.error import UsageError

from ..engine.loop import run
from ..session import Session
from ..settings import CACHE_MODES, cache_mode
from ..show.export import export
from ..show.markdown import literal
from ..show.outputs import cache_table, show_markdown, show_transcript, show_widget
from ..store.cache import parse_age
from ..store.threads import DEFAULT, shown
from ..turn import TurnOptions

SUBCOMMANDS = (
    "history", "threads", "new", "reset", "undo", "system", "model", "usage", "config",
    "models", "export", "cache", "panel", "adopt", "help",
)  # fmt: skip


class Subcommands:
    """The `%chat` line magic's subcommands, on one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def run(self, line: str) -> None:
        """Run `%chat LINE`."""
        try:
            words = shlex.split(line)
        except ValueError as err:
            raise UsageError(f"%chat: {err}") from None
        name, rest = (words[0], words[1:]) if words else ("help", [])
        if name not in SUBCOMMANDS:
            raise UsageError(
                f"%chat: unknown subcommand {name!r}; use one of: {', '.join(SUBCOMMANDS)}"
            )
        thread, rest = _thread_option(rest)
        getattr(self, f"_cmd_{name}")(thread, rest)

    def _cmd_help(self, thread: str, rest: list[str]) -> None:
        show_markdown(HELP)

    def _cmd_history(self, thread: str, rest: list[str]) -> None:
        store = self.session.store
        if thread not in store.threads():
            show_markdown("")
            return
        show_transcript(store.thread(thread))

    def _cmd_threads(self, thread: str, rest: list[str]) -> None:
        store = self.session.store
        lines = [f"- **{literal(name)}**: {store.summary(name)}" for name in store.threads()]
        show_markdown("\n".join(lines) or "No threads yet.")

    def _cmd_new(self, thread: str, rest: list[str]) -> None:
        self.session.store.reset(thread)
        print(f"nbstream: thread {thread!r} cleared (its system prompt is kept)")

    _cmd_reset = _cmd_new

    def _cmd_undo(self, thread: str, rest: list[str]) -> None:
        removed = self.session.store.undo(thread)
        print(
            f"nbstream: removed the last exchange of {thread!r}" if removed else "nothing to undo"
        )

    def _cmd_system(self, thread: str, rest: list[str]) -> None:
        self.session.store.set_system(thread, " ".join(rest) or None)
        print(f"nbstream: system prompt of {thread!r} {'set' if rest else 'cleared'}")

    def _cmd_model(self, thread: str, rest: list[str]) -> None:
        if not rest:
            print(f"nbstream: model is {self.session.settings(TurnOptions()).model}")
            return
        self.session.config.model = rest[0]
        print(f"nbstream: model set to {rest[0]} for this session")

    def _cmd_usage(self, thread: str, rest: list[str]) -> None:
        show_markdown(self.session.totals.table())

    def _cmd_config(self, thread: str, rest: list[str]) -> None:
        listed = self.session.settings(TurnOptions()).shown()
        listed["state_file"] = shown(self.session.store)
        listed["cache_file"] = str(self.session.cache.path)
        values = {k: str(v.value if isinstance(v, Enum) else v) for k, v in listed.items()}
        kept = {k: v for k, v in values.items() if listed[k] is not None}
        show_markdown(
            "\n".join(f"- `{k}`: {literal(v)}" for k, v in kept.items()),
            plain="\n".join(f"{k}: {v}" for k, v in kept.items()),
        )

    def _cmd_models(self, thread: str, rest: list[str]) -> None:
        models = run(self.session.models(TurnOptions()))
        show_markdown(
            "\n".join(f"- {literal(m)}" for m in models) or "The server did not list its models."
        )

    def _cmd_export(self, thread: str, rest: list[str]) -> None:
        names = [word for word in rest if word != "--force"]
        if len(names) != 1:
            raise UsageError("%chat export PATH [--force]  (PATH ends in .md or .json)")
        path = Path(names[0]).expanduser()
        problem = _export_problem(path, force="--force" in rest)
        if problem:
            raise UsageError(f"%chat export: {problem}")
        try:
            export(self.session.store.thread(thread), path)
        except ValueError as err:
            raise UsageError(f"%chat export: {err}") from None
        except OSError as err:
            raise UsageError(f"%chat export: cannot write {path}: {err.strerror or err}") from None
        print(f"nbstream: wrote {path}")

    def _cmd_adopt(self, thread: str, rest: list[str]) -> None:
        if len(rest) != 1 or not rest[0].endswith(".ipynb"):
            raise UsageError("%chat adopt OLD.ipynb  (the notebook's name before it was renamed)")
        if self.session.store.path is None:
            raise UsageError("%chat adopt: this kernel keeps no conversations on disk")
        moved = self.session.store.adopt(os.path.basename(rest[0]))
        print(f"nbstream: adopted {len(moved)} thread{'s' if len(moved) != 1 else ''} of {rest[0]}")

    def _cmd_panel(self, thread: str, rest: list[str]) -> None:
        from ..show.panel import ChatPanel

        show_widget(ChatPanel(thread, session=self.session))

    def _cmd_cache(self, thread: str, rest: list[str]) -> None:
        action, args = (rest[0], rest[1:]) if rest else ("", [])
        cache = self.session.cache
        if action in ("", *CACHE_MODES) and not args:
            if action:
                self.session.config.cache = action
            mode = cache_mode(None, self.session.config, os.environ)
            print(f"nbstream: cache mode {mode.value} · store {cache.where}")
        elif action == "list" and not args:
            show_markdown(cache_table(cache))
        elif action == "clear" and (not args or (len(args) == 2 and args[0] == "--older-than")):
            try:
                age = parse_age(args[1]) if args else None
            except ValueError as err:
                raise UsageError(f"%chat cache clear: {err}") from None
            removed = cache.clear(age)
            print(f"nbstream: removed {removed} recorded repl{'y' if removed == 1 else 'ies'}")
        else:
            raise UsageError(CACHE_USAGE)


HELP = """**%%chat** `[options]` — the cell is the prompt; `%%chat --help` lists the options.

**%chat** subcommands (add `-t NAME` for another thread):
`history` · `threads` · `new` / `reset` · `undo` · `system TEXT` · `model NAME` · `usage` ·
`config` · `models` · `export PATH.md|PATH.json [--force]` · `cache [MODE|list|clear]` ·
`panel` · `adopt OLD.ipynb` (take over a renamed notebook's threads) · `help`"""
SUBCOMMANDS_HELP = (
    "%chat SUBCOMMAND [-t THREAD]: history, threads, new, reset, undo, system TEXT, model NAME,\n"
    "  usage, config, models, export PATH.md|PATH.json [--force], cache [MODE|list|clear],\n"
    "  panel, adopt OLD.ipynb, help"
)
CACHE_USAGE = (
    "%chat cache [off|record|replay|strict]  |  %chat cache list  |  "
    "%chat cache clear [--older-than 7d]"
)


def _thread_option(words: list[str]) -> tuple[str, list[str]]:
    for flag in ("-t", "--thread"):
        if flag in words:
            i = words.index(flag)
            if i + 1 >= len(words):
                raise UsageError(f"%chat: {flag} needs a thread name")
            return words[i + 1], words[:i] + words[i + 2 :]
    return DEFAULT, words


def _export_problem(path: Path, *, force: bool) -> str | None:
    """Why `path` must not be written, if it must not."""
    if ".nbstream" in path.resolve().parts:
        return f"will not write into .nbstream/, which holds nbstream's own files: {path}"
    if path.is_dir():
        return f"{path} is a folder: give a file name ending in .md or .json"
    if path.exists() and not force:
        return f"{path} exists: add --force to overwrite it"
    if not path.resolve().parent.is_dir():
        return f"no folder {path.parent} to write {path.name} in"
    return None
