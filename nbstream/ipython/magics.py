"""`%%chat` and `%chat`: thin wiring from IPython to the session."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from ..engine.loop import run
from ..engine.result import ChatResult
from ..errors import NbStreamError
from ..gather import compare_turns, gather_turns
from ..interpolate import interpolate
from ..session import Session, TurnOptions, set_current
from ..settings import CACHE_MODES, NbStream, cache_mode
from ..show.live import Surface, driver, surface_for
from ..show.rendering import transcript_markdown, transcript_text
from ..store.cache import cache_path, parse_age
from ..store.threads import DEFAULT, notebook_path, state_path

SUBCOMMANDS = (
    "history", "threads", "new", "reset", "undo", "system", "model", "usage", "config",
    "models", "export", "cache", "panel", "help",
)  # fmt: skip
_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.S)


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"-p expects KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


@magics_class
class ChatMagics(Magics):
    """The `chat` line and cell magic."""

    def __init__(self, shell: Any, session: Session) -> None:
        super().__init__(shell)
        self.session = session

    @magic_arguments()
    @argument("-m", "--model", help="model name")
    @argument("-s", "--system", help="set the thread's system prompt")
    @argument("-t", "--thread", default=DEFAULT, help="conversation thread (default: default)")
    @argument("--new", action="store_true", help="start the thread afresh (keeps its system)")
    @argument("--no-history", action="store_true", help="one-off: send no history, record none")
    @argument("--temperature", type=float)
    @argument("--max-tokens", type=int)
    @argument("--top-p", type=float)
    @argument("--seed", type=int)
    @argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
              help="any other request parameter; VALUE parsed as JSON when it parses")  # fmt: skip
    @argument("--timeout", type=float, help="seconds to wait for the first token / between data")
    @argument("--retries", type=int, help="retries before the first token")
    @argument("--out", metavar="NAME", help="store the result in this variable")
    @argument("--no-stream", action="store_true", help="ask for the whole reply at once")
    @argument("--format", choices=("markdown", "text", "code"), default="markdown",
              help="code: also put the reply's code in the next cell")  # fmt: skip
    @argument("--quiet", action="store_true", help="no footer")
    @argument("--no-interpolate", action="store_true", help="send {name} literally")
    @argument("--cache", choices=CACHE_MODES, help="response cache mode for this cell")
    @argument("--each", metavar="NAME",
              help="run the cell once per element of list NAME; {item} is the element")  # fmt: skip
    @argument("--compare", metavar="M1,M2", help="send the cell to these models side by side")
    @argument("--concurrency", type=int, default=8, help="streams at once with --each")
    @line_cell_magic
    def chat(self, line: str, cell: str | None = None) -> None:
        """Chat with a model: `%%chat [options]` sends the cell; `%chat help` lists subcommands."""
        if cell is None:
            return self._subcommand(line)
        shell: Any = self.shell
        args = _parse_options(self.chat, line)
        prompt = cell.strip()
        if not prompt:
            raise UsageError("empty prompt: write the prompt in the cell, below %%chat")
        if args.each and args.compare:
            raise UsageError("%%chat: use --each or --compare, not both")
        try:
            result = self._run(args, prompt, shell.user_ns)
        except KeyboardInterrupt:
            # A bare interrupt: formatting nbstream's frames took IPython ~0.3 s the first time.
            raise KeyboardInterrupt from None
        shell.user_ns["_chat"] = result
        if args.out:
            shell.user_ns[args.out] = result
        return None

    def _run(self, args: Any, prompt: str, namespace: dict[str, Any]) -> Any:
        options = self._options(args)
        if args.each:
            prompts = self._each_prompts(args, prompt)
            one_offs = replace(options, no_history=True)
            return gather_turns(self.session, prompts, one_offs, concurrency=args.concurrency)
        if not args.no_interpolate:
            prompt = interpolate(prompt, namespace)
        if args.compare:
            models = [m.strip() for m in args.compare.split(",") if m.strip()]
            return compare_turns(self.session, prompt, models, options)
        drive = driver(self._surface(args), cost=self.session.cost)
        result = self.session.chat(prompt, options, drive, cell_id=self._cell_id())
        self._put_code_in_next_cell(args, result)
        return result

    def _each_prompts(self, args: Any, template: str) -> list[str]:
        items = self.shell.user_ns.get(args.each) if self.shell else None
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise UsageError(f"%%chat --each: {args.each!r} is not a list in the notebook")
        namespace = dict(self.shell.user_ns) if self.shell else {}
        prompts = []
        for index, item in enumerate(items):
            namespace.update(item=item, index=index)
            prompts.append(template if args.no_interpolate else interpolate(template, namespace))
        if not prompts:
            raise UsageError(f"%%chat --each: {args.each!r} is empty")
        return prompts

    def _put_code_in_next_cell(self, args: Any, result: ChatResult) -> None:
        if args.format != "code" or self.shell is None:
            return
        blocks = _CODE_BLOCK.findall(result.text)
        if blocks:
            self.shell.set_next_input("\n\n".join(b.rstrip() for b in blocks))

    def _options(self, args: Any) -> TurnOptions:
        params: dict[str, Any] = {
            k: v
            for k, v in (
                ("temperature", args.temperature),
                ("max_tokens", args.max_tokens),
                ("top_p", args.top_p),
                ("seed", args.seed),
            )
            if v is not None
        }
        params.update(_key_value(p) for p in args.param)
        return TurnOptions(
            thread=args.thread,
            model=args.model,
            system=args.system,
            new=args.new,
            no_history=args.no_history,
            params=params,
            timeout=args.timeout,
            retries=args.retries,
            stream=not args.no_stream,
            cache=args.cache,
        )

    def _surface(self, args: Any) -> Surface:
        return surface_for(True, plain=args.format == "text", quiet=args.quiet)

    def _cell_id(self) -> str | None:
        kernel = getattr(self.shell, "kernel", None)
        if kernel is None:
            return None
        parent = kernel.get_parent() if hasattr(kernel, "get_parent") else kernel._parent_header
        return (parent or {}).get("metadata", {}).get("cellId")

    # ---- %chat subcommands

    def _subcommand(self, line: str) -> None:
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
        _show(HELP)

    def _cmd_history(self, thread: str, rest: list[str]) -> None:
        store = self.session.store
        if thread not in store.threads():
            _show("")
            return
        conversation = store.thread(thread)
        display(
            {
                "text/markdown": transcript_markdown(conversation),
                "text/plain": transcript_text(conversation),
            },
            raw=True,
        )

    def _cmd_threads(self, thread: str, rest: list[str]) -> None:
        store = self.session.store
        lines = [f"- **{name}**: {store.summary(name)}" for name in store.threads()]
        _show("\n".join(lines) or "No threads yet.")

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
        _show(self.session.totals.table())

    def _cmd_config(self, thread: str, rest: list[str]) -> None:
        shown = self.session.settings(TurnOptions()).shown()
        store = self.session.store
        shown["state_file"] = str(store.path) if store.path else "in memory only"
        shown["cache_file"] = str(self.session.cache.path)
        _show("\n".join(f"- `{k}`: {v}" for k, v in shown.items()))

    def _cmd_models(self, thread: str, rest: list[str]) -> None:
        models = run(self.session.models(TurnOptions()))
        _show("\n".join(f"- `{m}`" for m in models) or "The server did not list its models.")

    def _cmd_export(self, thread: str, rest: list[str]) -> None:
        if len(rest) != 1:
            raise UsageError("%chat export PATH  (PATH ends in .md or .json)")
        try:
            path = self.session.store.export(rest[0], thread)
        except ValueError as err:
            raise UsageError(str(err)) from None
        print(f"nbstream: wrote {path}")

    def _cmd_panel(self, thread: str, rest: list[str]) -> None:
        from ..show.panel import show_panel

        show_panel(thread, self.session)

    def _cmd_cache(self, thread: str, rest: list[str]) -> None:
        action, args = (rest[0], rest[1:]) if rest else ("", [])
        cache = self.session.cache
        if action in ("", *CACHE_MODES) and not args:
            if action:
                self.session.config.cache = action
            mode = cache_mode(None, self.session.config, os.environ)
            print(f"nbstream: cache mode {mode} · store {cache.where}")
        elif action == "list" and not args:
            _show(cache.table())
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
`config` · `models` · `export PATH.md|PATH.json` · `cache [MODE|list|clear]` · `panel` · `help`"""
CACHE_USAGE = (
    "%chat cache [off|record|replay|strict]  |  %chat cache list  |  "
    "%chat cache clear [--older-than 7d]"
)


def _parse_options(magic: Any, line: str) -> Any:
    # IPython's parse_argstring splits without POSIX quoting, so -p k='{"a": 1}' would break.
    try:
        argv = shlex.split(line)
    except ValueError as err:
        raise UsageError(f"%%chat options: {err} (check the quotes)") from None
    return magic.parser.parse_args(argv)


def _thread_option(words: list[str]) -> tuple[str, list[str]]:
    for flag in ("-t", "--thread"):
        if flag in words:
            i = words.index(flag)
            if i + 1 >= len(words):
                raise UsageError(f"%chat: {flag} needs a thread name")
            return words[i + 1], words[:i] + words[i + 2 :]
    return DEFAULT, words


def _show(markdown: str) -> None:
    text = markdown or "Nothing here yet."
    display({"text/markdown": text, "text/plain": text}, raw=True)


def _error_handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
    """Show an nbstream error as its message and hint, not a traceback wall; `%tb` has it."""
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    sys.last_exc = value  # type: ignore[attr-defined]  # read by %tb on Python 3.12+
    message = str(value).replace("\n", "\n  ")
    shell._showtraceback(etype, value, [f"{etype.__name__}: {message}\n  (%tb for the traceback)"])


def load(shell: Any) -> None:
    """Register the magics, the configuration and the short error display on `shell`."""
    config = NbStream(parent=shell)
    shell.configurables.append(config)
    notebook = notebook_path(os.environ, shell.user_ns)
    state = state_path(notebook) if notebook and config.persist else None
    session = Session(config, state, cache_path(notebook))
    for warning in session.store.warnings:
        print(warning, file=sys.stderr)
    if session.store.restored:
        print(f"nbstream: restored {session.store.restored} turns from {state}")
    shell.register_magics(ChatMagics(shell, session))
    shell.set_custom_exc((NbStreamError,), _error_handler)
    set_current(session)


def unload(shell: Any) -> None:
    """Remove what `load` registered."""
    shell.magics_manager.registry.pop("ChatMagics", None)
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("chat", None)
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, NbStream)]
    shell.set_custom_exc((), None)
