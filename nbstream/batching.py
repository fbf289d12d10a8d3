"""`nbstream.map(..., mode="batch")`, `nbstream.collect` and `nbstream.cancel`: a run through
the provider's Batch API, at its prices (half of live, at OpenAI), its ids kept in the run
record so that the results can be fetched later, from this kernel or a new one.

Re-running the cell finds the batches it sent before (still running or ended but not
collected) instead of sending the items again; items finished before come from the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .engine import loop
from .engine.result import ChatResult, Status
from .errors import ConfigError, NbStreamError
from .scale import batch
from .scale.batch_lines import request_line, split
from .scale.estimate import Estimate, check_budget, estimate, messages_for, request_keys
from .scale.jobs import Job
from .scale.progress import Progress
from .session import Session, current, with_backend
from .settings import Settings
from .show.progress import show_progress
from .store.runs import BatchRow, RunRecord, runs_path
from .turn import TurnOptions

#: What batches cost against live requests (OpenAI, Azure OpenAI: half).
BATCH_PRICE = 0.5
#: Kept batches in these states are not waited for again.
_SETTLED = ("collected", "cancelled", "cancelling")


@dataclass(frozen=True)
class BatchHandle:
    """Batches sent without waiting (`wait=False`): `collect()` once they have ended."""

    ids: tuple[str, ...]

    def collect(self, *, session: Session | None = None) -> list[ChatResult]:
        """The results of every batch, in their lines' order (an error while one runs)."""
        return [result for batch_id in self.ids for result in collect(batch_id, session=session)]


def run_batch(
    session: Session, jobs: Sequence[Job], options: TurnOptions, *,
    resume: bool, wait: bool, max_cost: float | None, show: bool | None,
) -> list[ChatResult] | BatchHandle:  # fmt: skip
    """Send the items not finished before as batches, wait for them, return all results."""
    if "tools" in options.params or options.tools:
        raise ConfigError("batch mode does not run tools", "use mode='live' for tools")
    settings = with_backend(session.settings(options))
    keys = request_keys(session, options, settings, jobs)
    record = RunRecord(runs_path(session.cache.path))
    try:
        earlier = record.finished(keys) if resume else {}
        todo = {key: job for key, job in zip(keys, jobs, strict=True) if key not in earlier}
        kept = _pending(record, settings, todo.keys())
        new = {k: job for k, job in todo.items() if not any(k in row.jobs for row in kept)}
        expected = estimate(session, options, settings, list(new.values()), BATCH_PRICE)
        _check_cost(expected, max_cost, settings.model)
        ids = [row.id for row in kept] + _send(session, options, settings, record, new)
        if not wait:
            return BatchHandle(tuple(ids))
        progress = Progress(len(jobs), estimate=expected.line())
        fetched = show_progress(progress, _wait(settings, ids, progress), show=show)
        _keep(record, ids, fetched)
    finally:
        record.close()
    results = [earlier.get(key) or fetched.get(key) or _missing() for key in keys]
    return results


def _pending(record: RunRecord, settings: Settings, keys: Any) -> list[BatchRow]:
    """Batches sent before to this server for some of `keys`, not yet collected."""
    return [
        row
        for row in record.batches()
        if row.state not in _SETTLED
        and row.base_url == (settings.base_url or "")
        and keys & row.jobs.keys()
    ]


def _send(session: Session, options: TurnOptions, settings: Settings, record: RunRecord,
          new: dict[str, Job]) -> list[str]:  # fmt: skip
    """Upload and create the batches of `new` items; their ids, kept in the record."""
    lines = [
        request_line(key, settings.model, messages_for(session, options, job.prompt),
                     dict(options.params))
        for key, job in new.items()
    ]  # fmt: skip
    files = split(lines)
    created = loop.run(batch.submit(settings, [b"".join(f) for f in files])) if files else []
    ordered = list(new)
    start = 0
    for made, chunk in zip(created, files, strict=True):
        part = ordered[start : start + len(chunk)]
        start += len(chunk)
        record.add_batch(made.id, settings.base_url or "", made.status, {k: k for k in part})
    return [made.id for made in created]


async def _wait(settings: Settings, ids: Sequence[str], progress: Progress) -> dict[str, Any]:
    ended = await batch.follow(settings, ids, progress)
    fetched: dict[str, Any] = {}
    for made in ended.values():
        fetched.update(await batch.fetch(settings, made))
    for key, result in fetched.items():
        progress.end(key[:8], result, None, resumed=False)
    return fetched


def _keep(record: RunRecord, ids: Sequence[str], fetched: dict[str, ChatResult]) -> None:
    for key, result in fetched.items():
        if result.status is Status.COMPLETE:
            record.put(key, result)
    for batch_id in ids:
        record.set_state(batch_id, "collected")


def collect(batch_id: str, *, session: Session | None = None) -> list[ChatResult]:
    """`nbstream.collect(batch_id)`: the results of an ended batch, in its lines' order,
    recorded so that re-running the `map` cell takes them from the record."""
    session = session or current()
    record = RunRecord(runs_path(session.cache.path))
    try:
        row = _row(record, batch_id)
        settings = _settings_for(session, row)
        made = loop.run(batch.retrieve(settings, batch_id))
        if made.status not in batch.ENDED:
            raise NbStreamError(f"batch {batch_id} is {made.status}",
                                "collect it once it has ended, or nbstream.cancel it")  # fmt: skip
        fetched = loop.run(batch.fetch(settings, made))
        _keep(record, [batch_id], fetched)
    finally:
        record.close()
    return [fetched.get(key) or _missing() for key in row.jobs]


def cancel(batch_id: str, *, session: Session | None = None) -> str:
    """`nbstream.cancel(batch_id)`: ask the provider to stop a batch; its status now."""
    session = session or current()
    record = RunRecord(runs_path(session.cache.path))
    try:
        row = _row(record, batch_id)
        status = loop.run(batch.cancel(_settings_for(session, row), batch_id))
        record.set_state(batch_id, status)
    finally:
        record.close()
    return status


def _row(record: RunRecord, batch_id: str) -> BatchRow:
    rows = record.batches([batch_id])
    if not rows:
        raise NbStreamError(f"no batch {batch_id} in {record.path}",
                            "run the cell from this folder, where map sent it")  # fmt: skip
    return rows[0]


def _settings_for(session: Session, row: BatchRow) -> Settings:
    settings = with_backend(session.settings(TurnOptions()))
    return settings.with_(base_url=row.base_url) if row.base_url else settings


def _check_cost(expected: Estimate, max_cost: float | None, model: str) -> None:
    """A batch cannot stop midway: one over `max_cost` is refused before it is sent."""
    check_budget(expected, max_cost, model)
    if max_cost is not None and expected.cost is not None and expected.cost > max_cost:
        raise ConfigError(
            f"the batch would cost about ${expected.cost:.4f}, over max_cost ${max_cost:g}",
            "raise max_cost, or map fewer items",
        )


def batch_cost(session: Session, result: ChatResult) -> float | None:
    """A reply's cost at batch prices."""
    cost = session.cost(result)
    return None if cost is None else cost * BATCH_PRICE


def _missing() -> ChatResult:
    return ChatResult(status=Status.FAILED, error="no result: the batch ended without it")
