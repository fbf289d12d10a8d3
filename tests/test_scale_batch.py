"""Driving a provider's Batch API: a server without one, and the status line while waiting."""

from __future__ import annotations

import pytest
from openai.types import Batch
from openai.types.batch_request_counts import BatchRequestCounts

from nbstream.errors import ConfigError
from nbstream.offline.server import OfflineServer
from nbstream.scale.batch import status_line

from .conftest import SECRET_KEY
from .test_batching import new_session, run


def test_a_server_without_a_batch_api_is_a_one_line_error_suggesting_live_mode(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    with OfflineServer(rate=0, batches=False) as bare, pytest.raises(ConfigError) as caught:
        run(new_session(bare, tmp_path), ["a"], mode="batch")
    assert "has no Batch API" in caught.value.message and "mode='live'" in caught.value.hint
    assert "\n" not in caught.value.message


def batch(batch_id: str, status: str, counts: BatchRequestCounts | None) -> Batch:
    return Batch(id=batch_id, object="batch", status=status, endpoint="/v1/chat/completions",
                 input_file_id="file-1", completion_window="24h", created_at=0,
                 request_counts=counts)  # fmt: skip


def test_the_status_line_counts_each_batchs_finished_requests_and_says_how_to_come_back() -> None:
    line = status_line([
        batch("batch_1", "in_progress", BatchRequestCounts(completed=38, failed=2, total=100)),
        batch("batch_2", "validating", None),
    ])  # fmt: skip
    assert line == (
        "batch_1: in_progress 40/100 · batch_2: validating"
        " (interrupting leaves them running: re-run, or nbstream.collect)"
    )
