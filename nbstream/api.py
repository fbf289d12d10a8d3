"""nbstream from Python code: the same turns as `%%chat`, sync and async.

Every function takes the `%%chat` options as keywords (model, system, thread, new, no_history,
temperature, max_tokens, top_p, seed, timeout, retries, stream, cache, api (an `Api`),
hide_reasoning, tools (functions the model may call), approve, max_tool_rounds); any other
keyword is a request parameter sent as is (`response_format=...`, `reasoning_effort="high"`,
`verbosity="low"`, `reasoning_summary="auto"`).

`schema=` (a pydantic model, dataclass, TypedDict or JSON-schema dict) asks for a typed answer:
the reply streams as pretty-printed JSON and `result.parsed` holds the validated object, an
instance of the schema's own class. `nbstream.frame(results)` makes a DataFrame with a column
per field; `pd.DataFrame(r.parsed for r in results)` does too, except for pydantic models,
which pandas iterates as (name, value) pairs.

Functions are stateless: they send and record no history unless given `thread=`, so a loop
over data costs the same for every row. `Chat` keeps a conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .engine import loop
from .engine.result import ChatResult, Status, with_status
from .errors import NbStreamError, StreamError, incomplete_error
from .gather import Gathering, compare_turns
from .session import Session, current
from .show.live import LiveView, driver
from .show.rendering import metadata
from .show.surfaces import surface_for
from .tools.mainthread import INBOX
from .tools.turn import check_main_thread, refuse_tools
from .turn import TurnOptions
from .typed import Shape, shape_of, typed

_OPTIONS = {"thread", "model", "system", "new", "no_history", "timeout", "retries", "stream",
            "cache", "api", "hide_reasoning", "tools", "approve", "max_tool_rounds"}  # fmt: skip
_PARAMS = ("temperature", "max_tokens", "top_p", "seed")


def turn_options(options: dict[str, Any]) -> TurnOptions:
    """TurnOptions from keyword options; unknown keywords become request parameters.

    Without a `thread` the turn is a one-off: no history is sent or recorded.
    """
    params = dict(options.pop("params", None) or {})
    known = {k: options.pop(k) for k in list(options) if k in _OPTIONS}
    if known.get("tools") is not None:
        known["tools"] = tuple(known["tools"])
    params.update({k: v for k, v in options.items() if v is not None})
    if known.get("thread") is None:
        known.pop("thread", None)
        known.setdefault("no_history", True)
    return TurnOptions(params=params, **known)


def _allowed(result: ChatResult, allow_incomplete: bool) -> ChatResult:
    if result.incomplete and not allow_incomplete:
        raise incomplete_error(result, "the partial reply is in err.result; "
                               "allow_incomplete=True returns it instead")  # fmt: skip
    return result


def chat(
    prompt: str,
    *,
    show: bool | None = None,
    session: Session | None = None,
    allow_incomplete: bool = True,
    **options: Any,
) -> ChatResult:
    """Send `prompt` and return the reply with its status; it streams live in a notebook or a
    terminal (`show=None`: where there is somewhere to show it, not in plain scripts).

    `allow_incomplete=False` raises IncompleteError for a reply that ended without a finish.
    """
    check_prompt(prompt)
    check_main_thread(options)
    session = session or current()
    shape = _shaped(options)
    drive = driver(surface_for(show, plain=shape is not None), cost=session.cost)
    result = session.chat(prompt, turn_options(options), drive)
    return typed(_allowed(result, allow_incomplete), shape)


async def achat(
    prompt: str,
    *,
    show: bool | None = None,
    session: Session | None = None,
    allow_incomplete: bool = True,
    **options: Any,
) -> ChatResult:
    """`await nbstream.achat(...)`: like `chat`, without blocking the caller's event loop."""
    check_prompt(prompt)
    check_main_thread(options)
    session = session or current()
    shape = _shaped(options)
    turn = turn_options(options)
    latest = ChatResult(status=Status.INCOMPLETE)

    def on_update(snapshot: ChatResult) -> None:
        nonlocal latest
        latest = snapshot

    def meta(result: ChatResult) -> dict[str, Any]:
        return metadata(result, thread=turn.thread, turn_id="")

    view = LiveView(
        surface_for(show, plain=shape is not None),
        lambda: latest,
        thread=turn.thread,
        cost=session.cost,
        meta=meta,
    )
    job = loop.submit(
        session.achat(prompt, turn, on_update=on_update, interval=0.05, sink=view.progress)
    )
    try:
        with INBOX.waiting_in_cell():
            result = await loop.wait_async(job, tick=view.tick)
    except (KeyboardInterrupt, asyncio.CancelledError):
        view.end(with_status(latest, Status.INTERRUPTED))
        raise
    except StreamError as err:
        view.end(err.result, err)
        raise
    except NbStreamError as err:
        view.end(latest, err)
        raise
    view.end(result)
    return typed(_allowed(result, allow_incomplete), shape)


def _gathering(
    name: str, prompts: Sequence[str], options: dict[str, Any]
) -> tuple[Shape | None, TurnOptions]:
    """Check a gather's prompts and options; its answers' shape and its turns' options."""
    refuse_tools(options, name)
    for prompt in prompts:
        check_prompt(prompt)
    shape = _shaped(options)
    return shape, turn_options(options)


def gather(
    prompts: Sequence[str],
    *,
    concurrency: int = 8,
    show: bool | None = None,
    session: Session | None = None,
    **options: Any,
) -> list[ChatResult]:
    """Stream every prompt at once (at most `concurrency` at a time), live in one grid.

    Prompts are one-offs unless given `thread=`: then each is sent after the thread's history
    and the exchanges are recorded in prompt order. Results come back in prompt order, each
    with its status; a failed item has `status` FAILED and the message in `error`, and no item
    raises.
    """
    shape, turn = _gathering("gather", prompts, options)
    results = Gathering(session or current(), prompts, turn, concurrency).run(show)
    return [typed(result, shape, raising=False) for result in results]


async def agather(
    prompts: Sequence[str],
    *,
    concurrency: int = 8,
    show: bool | None = None,
    session: Session | None = None,
    **options: Any,
) -> list[ChatResult]:
    """`await nbstream.agather(...)`: like `gather`, without blocking the caller's event loop,
    so other cells run meanwhile (`asyncio.ensure_future(nbstream.agather(...))`)."""
    shape, turn = _gathering("agather", prompts, options)
    results = await Gathering(session or current(), prompts, turn, concurrency).arun(show)
    return [typed(result, shape, raising=False) for result in results]


def compare(
    prompt: str,
    models: Sequence[str],
    *,
    show: bool | None = None,
    session: Session | None = None,
    **options: Any,
) -> list[ChatResult]:
    """Send `prompt` to several models at once, side by side, then a comparison table.

    One-offs by default; given `thread=`, each model continues that thread's history in its
    own branch, `THREAD@MODEL`, so a follow-up can go on with any of them.
    """
    refuse_tools(options, "compare")
    check_prompt(prompt)
    shape = _shaped(options)
    results = compare_turns(session or current(), prompt, models, turn_options(options), show=show)
    return [typed(result, shape, raising=False) for result in results]


def _shaped(options: dict[str, Any]) -> Shape | None:
    """The `schema=` option's Shape, its response_format put among the request parameters."""
    shape = shape_of(options.pop("schema", None))
    if shape is not None:
        options["response_format"] = shape.response_format()
    return shape


def check_prompt(prompt: str) -> None:
    """Raise NbStreamError for a prompt that is not text or is blank."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise NbStreamError("empty prompt", "pass the text to send, e.g. nbstream.chat('Hello')")
