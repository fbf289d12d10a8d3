"""`nbstream.map`: one prompt per item of a list, Series or DataFrame, paced and resumable.

Wires the parts: `scale.jobs` makes the prompts, `scale.estimate` the keys and the expected
cost, the run record (`store.runs`) the items finished before, `scale.scheduler` the run, and
`show.progress` its one live view.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from .api import turn_options
from .batching import BatchHandle, batch_cost, run_batch
from .engine.result import ChatResult
from .errors import ConfigError
from .scale.estimate import check_budget, estimate, request_keys
from .scale.frame import shaped
from .scale.jobs import Job, jobs_for
from .scale.pacer import Pacer
from .scale.progress import Progress
from .scale.scheduler import Plan, Scheduler
from .session import Session, current, with_backend
from .show.progress import show_progress
from .store.runs import RunRecord, runs_path
from .tools.turn import refuse_tools
from .turn import TurnOptions
from .typed import shape_of


def map_items(
    items: Any,
    template: str,
    *,
    schema: Any = None,
    concurrency: int | str = "auto",
    mode: str = "live",
    max_cost: float | None = None,
    resume: bool = True,
    wait: bool = True,
    show: bool | None = None,
    session: Session | None = None,
    **options: Any,
) -> Any:
    """`nbstream.map`: ask `template` about every item of a list, Series or DataFrame.

    `{column}` fields take a row's values, `{item}` the item, `{index}` its label. Results come
    in input order: a list of ChatResult for a list, a DataFrame (the input's index; text,
    status, tokens, cost, error) for pandas. With `schema=` (as in `chat`) each result has
    `parsed`, and a DataFrame has the parsed fields as columns instead of the text. Items are
    one-offs; each finished one is recorded in `.nbstream/runs.sqlite`, so running the same
    call again asks only for the rest (`resume=False` asks afresh). `max_cost` (dollars)
    stops before crossing it.

    `mode="batch"` sends the items through the provider's Batch API (`/v1/batches`) at its
    prices and waits for them (`wait=False` returns a `BatchHandle` at once); the batch ids are
    kept, so re-running the cell, or `nbstream.collect(batch_id)`, fetches the results later.
    """
    if mode != "batch":  # batch mode says so itself
        refuse_tools(options, "map")
    shape = shape_of(schema)
    if shape is not None:
        options["response_format"] = shape.response_format()
    if mode not in ("live", "batch"):
        raise ConfigError(f"mode {mode!r} is not known", "use mode='live' or mode='batch'")
    if concurrency != "auto" and not (isinstance(concurrency, int) and concurrency > 0):
        raise ConfigError(f"concurrency {concurrency!r}", "give a number ≥ 1 or 'auto'")
    options.setdefault("no_history", True)
    session = session or current()
    if mode == "batch":
        sent = run_batch(session, jobs_for(items, template), turn_options(options),
                         resume=resume, wait=wait, max_cost=max_cost, show=show)  # fmt: skip
        if isinstance(sent, BatchHandle):
            return sent
        return shaped(items, sent, partial(batch_cost, session), shape)
    results = run_live(
        session, jobs_for(items, template), turn_options(options),
        concurrency=concurrency, max_cost=max_cost, resume=resume, show=show,
    )  # fmt: skip
    return shaped(items, results, session.cost, shape)


def run_live(
    session: Session,
    jobs: Sequence[Job],
    options: TurnOptions,
    *,
    concurrency: int | str,
    max_cost: float | None,
    resume: bool,
    show: bool | None,
) -> list[ChatResult]:
    """Run `jobs` through the session, paced, with the progress view; results in order."""
    settings = with_backend(session.settings(options))
    keys = request_keys(session, options, settings, jobs)
    record = RunRecord(runs_path(session.cache.path))
    try:
        earlier = _earlier(record, jobs, keys) if resume else {}
        todo = [job for job in jobs if job.position not in earlier]
        expected = estimate(session, options, settings, todo)
        check_budget(expected, max_cost, settings.model)
        progress = Progress(len(jobs), estimate=expected.line())
        plan = Plan(keys, record, expected.tokens_each, expected.cost_each, max_cost)
        scheduler = Scheduler(session, options, Pacer(concurrency), progress, plan)
        results = show_progress(progress, scheduler.run(jobs, earlier), show=show)
    finally:
        record.close()
    return results


def _earlier(record: RunRecord, jobs: Sequence[Job], keys: Sequence[str]) -> dict[int, ChatResult]:
    """The items a previous run finished, by position."""
    found = record.finished(keys)
    return {job.position: found[key] for job, key in zip(jobs, keys, strict=True) if key in found}
