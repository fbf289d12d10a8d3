"""The `nbstream` command: chat from a terminal, serve the offline backend, run the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .engine.result import Status
from .errors import NbStreamError
from .session import Session
from .settings import NbStream
from .show.live import driver
from .show.surfaces import TerminalSurface
from .turn import TurnOptions


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nbstream` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except NbStreamError as err:
        print(f"nbstream: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nnbstream: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbstream", description="Stream chat completions; with no API key, offline."
    )
    parser.add_argument("--version", action="version", version=f"nbstream {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    chat = commands.add_parser("chat", help="stream one reply to the terminal, with usage")
    chat.add_argument("prompt", help="what to ask")
    chat.add_argument("-m", "--model", help="model name (default: from settings)")
    chat.add_argument("-s", "--system", help="system prompt")
    chat.add_argument("--base-url", help="OpenAI-compatible base URL")
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--max-tokens", type=int)
    chat.set_defaults(run=_chat)

    demo = commands.add_parser("demo", help="run the quickstart notebook headless, offline")
    demo.add_argument("notebook", nargs="?", default="notebooks/quickstart.ipynb", type=Path)
    demo.add_argument("-o", "--output", type=Path, help="where to save the executed copy")
    demo.add_argument("--live", action="store_true", help="use the configured backend")
    demo.set_defaults(run=_demo)

    serve = commands.add_parser("serve", help="run the offline OpenAI-compatible server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--rate", type=float, default=100.0, help="tokens per second (0: max)")
    serve.add_argument("--first-token-delay", type=float, default=0.05, help="seconds")
    serve.add_argument(
        "--faults", action="store_true", help="also serve the fault models; unknown names: 404"
    )
    serve.set_defaults(run=_serve)
    return parser


def _chat(args: argparse.Namespace) -> int:
    if not args.prompt.strip():
        raise NbStreamError("empty prompt", 'give a prompt: nbstream chat "Hello"')
    session = Session(NbStream(base_url=args.base_url))
    params = {"temperature": args.temperature, "max_tokens": args.max_tokens}
    options = TurnOptions(
        model=args.model,
        system=args.system,
        no_history=True,
        params={k: v for k, v in params.items() if v is not None},
    )
    result = session.chat(args.prompt, options, driver(TerminalSurface(), cost=session.cost))
    return 0 if result.status is Status.COMPLETE else 2


def _demo(args: argparse.Namespace) -> int:
    from .offline.demo import run_demo

    output = args.output or args.notebook.with_suffix(".executed.ipynb")
    saved = run_demo(args.notebook, output, live=args.live)
    print(f"\nnbstream: executed notebook saved to {saved}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .offline.server import faults_on, serve

    serve(args.host, args.port, args.rate, args.first_token_delay, args.faults or faults_on())
    return 0


if __name__ == "__main__":
    sys.exit(main())
