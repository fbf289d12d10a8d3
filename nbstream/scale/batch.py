"""Driving a provider's Batch API: upload the request files, create the batches, follow them,
fetch what they return. Runs on nbstream's loop with the SDK's async client.

A server without `/v1/files` or `/v1/batches` (vLLM's, for one) answers 404 or 405: that is a
one-line error suggesting live mode. Interrupting the wait leaves the batches running; their
ids are in the run record, so `nbstream.collect` or a re-run fetches the results later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..engine.clients import client_for, openai
from ..errors import ConfigError, NbStreamError
from ..settings import Settings
from .batch_lines import ENDPOINT, parse_results
from .progress import Progress

#: Batch states after which nothing changes.
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


def _no_batch_api(settings: Settings) -> ConfigError:
    return ConfigError(
        f"{settings.host} has no Batch API (/v1/files or /v1/batches is not served)",
        "use mode='live': nbstream paces the requests to what the server sustains",
    )


async def submit(settings: Settings, files: Sequence[bytes]) -> list[Any]:
    """Upload each request file and create its batch; the batch objects, in order."""
    client = await client_for(settings)
    created = []
    try:
        for number, data in enumerate(files, 1):
            upload = await client.files.create(
                file=(f"nbstream-batch-{number}.jsonl", data), purpose="batch"
            )
            created.append(await client.batches.create(
                input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h"
            ))  # fmt: skip
    except openai.NotFoundError as err:
        raise _no_batch_api(settings) from err
    except openai.APIStatusError as err:
        if err.status_code == 405:
            raise _no_batch_api(settings) from err
        raise NbStreamError(f"{err.status_code} from {settings.host}: {err.message}",
                            "check the request parameters; live mode shows errors per item"
                            ) from err  # fmt: skip
    return created


#: Seconds between polls: the first soon (a small batch may be done), then less often.
FIRST_POLL, LAST_POLL = 0.2, 30.0


async def follow(settings: Settings, ids: Sequence[str], progress: Progress) -> dict[str, Any]:
    """Poll the batches until each has ended, more rarely as time goes; their final objects."""
    client = await client_for(settings)
    interval = FIRST_POLL
    while True:
        batches = {batch_id: await client.batches.retrieve(batch_id) for batch_id in ids}
        progress.status_line = status_line(batches.values())
        progress.changed()
        if all(batch.status in ENDED for batch in batches.values()):
            return batches
        await asyncio.sleep(interval)
        interval = min(interval * 1.5, LAST_POLL)


def status_line(batches: Any) -> str:
    """'batch_1: in_progress 40/100 · …', and how to come back to them."""
    said = []
    for batch in batches:
        counts = batch.request_counts
        done = f" {counts.completed + counts.failed}/{counts.total}" if counts else ""
        said.append(f"{batch.id}: {batch.status}{done}")
    return " · ".join(said) + " (interrupting leaves them running: re-run, or nbstream.collect)"


async def fetch(settings: Settings, batch: Any) -> dict[str, Any]:
    """The results of an ended batch by custom_id (output and error files)."""
    client = await client_for(settings)
    found = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            content = await client.files.content(file_id)
            found.update(parse_results(content.text, settings.host))
    return found


async def cancel(settings: Settings, batch_id: str) -> str:
    """Ask the provider to cancel a batch; its status after the request."""
    client = await client_for(settings)
    return str((await client.batches.cancel(batch_id)).status)


async def retrieve(settings: Settings, batch_id: str) -> Any:
    """The batch object as the provider has it now."""
    client = await client_for(settings)
    return await client.batches.retrieve(batch_id)
