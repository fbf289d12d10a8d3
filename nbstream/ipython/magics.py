"""`%%chat` and `%chat`: thin wiring from IPython to the session."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..context import Prompt, build
from ..context.cell_errors import CellErrors, fix_prompt
from ..context.kernel import Watched, names
from ..engine.result import ChatResult
from ..errors import incomplete_error
from ..gather import Gathering, compare_turns
from ..session import Session
from ..settings import CACHE_MODES
from ..show.live import driver
from ..show.surfaces import Surface, surface_for
from ..store.threads import DEFAULT
from ..turn import TurnOptions
from ..typed import Shape, shape_of, typed
from .insert import code_of, insert_below
from .subcommands import SUBCOMMANDS_HELP, Subcommands

INCOMPLETE_HINT = (
    "the partial reply is shown above and kept; re-run the cell, or carry on with "
    "%%chat --allow-incomplete or %config NbStream.allow_incomplete = True"
)


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

    def __init__(self, shell: Any, session: Session, watched: Watched | None = None) -> None:
        super().__init__(shell)
        self.session = session
        self.watched = watched  # each cell's error and the last figure shown, since %load_ext

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
    @argument("-a", "--attach", action="append", default=[], metavar="PATH|URL",
              help="attach a text file, PDF or image (PNG, JPEG, GIF, WebP)")  # fmt: skip
    @argument("--schema", metavar="NAME", help="answer as JSON valid for NAME (pydantic model, "
              "dataclass, TypedDict, JSON-schema dict); _chat.parsed is the object")  # fmt: skip
    @argument("--insert", action="store_true",
              help="put the reply's code blocks in one new cell below (not run)")  # fmt: skip
    @argument("--cache", choices=CACHE_MODES, help="response cache mode for this cell")
    @argument("--each", metavar="NAME",
              help="run the cell once per element of list NAME; {item} is the element")  # fmt: skip
    @argument("--compare", metavar="M1,M2", help="send the cell to these models side by side")
    @argument("--concurrency", type=int, default=8, help="streams at once with --each")
    @argument("--api", choices=("chat", "responses", "auto"), help="endpoint (default: auto)")
    @argument("--reasoning-effort", metavar="LEVEL", help="minimal, low, medium or high")
    @argument("--verbosity", choices=("low", "medium", "high"), help="answer length (GPT-5)")
    @argument(
        "--reasoning-summary",
        choices=("auto", "concise", "detailed"),
        help="stream a summary of the reasoning (Responses API)",
    )
    @argument("--hide-reasoning", action="store_true", help="show only the reasoning's size")
    @argument("--tools", metavar="NAME[,NAME…]",
              help="functions (or lists of them) in the notebook the model may call")  # fmt: skip
    @argument("--approve", choices=("ask", "auto"),
              help="ask before running a tool not marked safe (default), or auto")  # fmt: skip
    @argument("--max-tool-rounds", type=int, help="tool rounds before the loop stops (8)")
    @argument("--allow-incomplete", action="store_true", help="an incomplete reply "
              "(connection lost, no finish reason) does not fail the cell")  # fmt: skip
    @argument("-h", "--help", action="store_true", help="show these options; send nothing")
    @line_cell_magic
    def chat(self, line: str, cell: str | None = None) -> None:
        """Chat with a model: `%%chat [options]` sends the cell; `%chat help` lists subcommands."""
        if cell is None:
            return self._subcommand(line)
        shell: Any = self.shell
        args = _parse_options(self.chat, line)
        if args.help:
            return _print_help(self.chat)
        prompt = cell.strip()
        if not prompt:
            raise UsageError("empty prompt: write the prompt in the cell, below %%chat")
        if args.each and args.compare:
            raise UsageError("%%chat: use --each or --compare, not both")
        if args.tools and (args.each or args.compare):
            raise UsageError("%%chat: --tools runs one conversation; not with --each or --compare")
        try:
            result = self._run(args, prompt, names(shell, self.watched))
        except KeyboardInterrupt:
            # A bare interrupt: formatting nbstream's frames took IPython ~0.3 s the first time.
            raise KeyboardInterrupt from None
        shell.user_ns["_chat"] = result
        if args.out:
            shell.user_ns[args.out] = result
        allowed = args.allow_incomplete or self.session.config.allow_incomplete
        if isinstance(result, ChatResult) and result.incomplete and not allowed:
            # The partial reply is shown and kept; failing the cell stops a Run All here.
            raise incomplete_error(result, INCOMPLETE_HINT)
        return None

    def _run(self, args: Any, prompt: str, namespace: Mapping[str, Any]) -> Any:
        shape = shape_of(self._schema(args.schema))
        options = self._options(args, shape)
        if args.each:
            prompts = self._each_prompts(args, prompt)
            one_offs = replace(options, no_history=True)
            found = Gathering(self.session, prompts, one_offs, args.concurrency).run()
            return [typed(result, shape, raising=False) for result in found]
        prompt = self._context(prompt, args, None if args.no_interpolate else namespace)
        if args.compare:
            models = [m.strip() for m in args.compare.split(",") if m.strip()]
            found = compare_turns(self.session, prompt, models, options)
            return [typed(result, shape, raising=False) for result in found]
        drive = driver(self._surface(args, shape is not None), cost=self.session.cost)
        result = self.session.chat(prompt, options, drive, cell_id=self._cell_id())
        self._put_code_in_next_cell(args, result)
        return typed(result, shape)

    def _schema(self, name: str | None) -> Any:
        if name is None:
            return None
        value = self.shell.user_ns.get(name) if self.shell else None
        if not (isinstance(value, (type, dict)) or hasattr(value, "__origin__")):
            raise UsageError(f"--schema {name}: not a pydantic model, dataclass, TypedDict "
                             "or JSON-schema dict in the notebook")  # fmt: skip
        return value

    def _each_prompts(self, args: Any, template: str) -> list[str]:
        items = self.shell.user_ns.get(args.each) if self.shell else None
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise UsageError(f"%%chat --each: {args.each!r} is not a list in the notebook")
        namespace = dict(names(self.shell, self.watched))
        prompts: list[str] = []
        for index, item in enumerate(items):
            namespace.update(item=item, index=index)
            prompts.append(
                self._context(template, args, None if args.no_interpolate else namespace)
            )
        if not prompts:
            raise UsageError(f"%%chat --each: {args.each!r} is empty")
        return prompts

    def _context(self, text: str, args: Any, namespace: Mapping[str, Any] | None) -> Prompt:
        """The prompt with the notebook's values (`namespace` None: as written) and files."""
        config = self.session.config
        return build(
            text,
            namespace,
            budget=config.context_tokens,
            max_side=config.image_max_side,
            attachments=args.attach,
            notice=_notice,
        )

    def _put_code_in_next_cell(self, args: Any, result: ChatResult) -> None:
        if self.shell is None:
            return
        if args.insert:
            insert_below(self.shell, result.text, _notice)
        elif args.format == "code" and (code := code_of(result.text)) is not None:
            self.shell.set_next_input(code)

    def _fix(self, words: list[str]) -> None:
        """`%chat fix [N]`: explain the last error (or cell N's) and fix it, in one turn."""
        if len(words) > 1 or (words and not words[0].isdigit()):
            raise UsageError("%chat fix [N]: N is the number of the cell that failed")
        errors = self.watched.errors if self.watched else CellErrors(first=0)
        count = int(words[0]) if words else errors.last
        if count is None:
            raise UsageError("%chat fix: no cell has failed since %load_ext nbstream")
        try:
            traceback = errors[count]
        except LookupError as err:
            raise UsageError(f"%chat fix: {err}") from None
        shell: Any = self.shell
        source = shell.history_manager.input_hist_raw[count]
        args = _parse_options(self.chat, "--no-interpolate")  # code and traceback go as they are
        shell.user_ns["_chat"] = self._run(args, fix_prompt(count, source, traceback), {})

    def _options(self, args: Any, shape: Shape | None = None) -> TurnOptions:
        params: dict[str, Any] = {
            k: v
            for k, v in (
                ("temperature", args.temperature),
                ("max_tokens", args.max_tokens),
                ("top_p", args.top_p),
                ("seed", args.seed),
                ("reasoning_effort", args.reasoning_effort),
                ("verbosity", args.verbosity),
                ("reasoning_summary", args.reasoning_summary),
            )
            if v is not None
        }
        params.update(_key_value(p) for p in args.param)
        if shape is not None:
            params["response_format"] = shape.response_format()
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
            api=args.api,
            hide_reasoning=args.hide_reasoning or None,
            tools=self._tools(args.tools),
            approve=args.approve,
            max_tool_rounds=args.max_tool_rounds,
        )

    def _tools(self, names: str | None) -> tuple[Any, ...]:
        namespace = self.shell.user_ns if self.shell else {}
        found = []
        for name in filter(None, (n.strip() for n in (names or "").split(","))):
            if name not in namespace:
                raise UsageError(f"%%chat --tools: no {name!r} in the notebook")
            found.append(namespace[name])
        return tuple(found)

    def _surface(self, args: Any, json: bool = False) -> Surface:
        # A typed answer streams as indented JSON, which Markdown would re-flow.
        return surface_for(True, plain=json or args.format == "text", quiet=args.quiet)

    def _cell_id(self) -> str | None:
        kernel = getattr(self.shell, "kernel", None)
        if kernel is None:
            return None
        parent = kernel.get_parent() if hasattr(kernel, "get_parent") else kernel._parent_header
        cell_id = (parent or {}).get("metadata", {}).get("cellId")
        return cell_id if isinstance(cell_id, str) else None

    def _subcommand(self, line: str) -> None:
        # `%%chat --help` alone is refused by IPython (a cell magic needs a body): the line form.
        if line.split()[:1] in (["-h"], ["--help"]):
            return _print_help(self.chat)
        if line.split()[:1] == ["fix"]:
            return self._fix(line.split()[1:])
        Subcommands(self.session).run(line)
        return None


def _print_help(magic: Any) -> None:
    """The options of `%%chat` and the `%chat` subcommands; nothing is sent."""
    # IPython's help formatter writes the usage as an RST literal block ("::") for docstrings.
    usage = magic.parser.format_help().removeprefix("::").strip()
    print(usage.replace("%chat", "%%chat", 1))
    print(f"\n{SUBCOMMANDS_HELP}")


def _notice(line: str) -> None:
    print(f"nbstream: {line}", file=sys.stderr)


def _parse_options(magic: Any, line: str) -> Any:
    # IPython's parse_argstring splits without POSIX quoting, so -p k='{"a": 1}' would break.
    try:
        argv = shlex.split(line)
    except ValueError as err:
        raise UsageError(f"%%chat options: {err} (check the quotes)") from None
    return magic.parser.parse_args(argv)
