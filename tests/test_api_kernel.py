"""The Python API inside real kernels: top-level await, interrupts, the grid's messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(server, tmp_path_factory) -> Iterator[Kernel]:
    env = clean_env(
        OPENAI_BASE_URL=server.url, OPENAI_API_KEY=SECRET_KEY, NBSTREAM_MODEL="nbstream-demo"
    )
    started = Kernel(env, cwd=tmp_path_factory.mktemp("api"))
    started.execute("import nbstream")
    yield started
    started.shutdown()


def test_top_level_await_streams_live_into_one_output(kernel) -> None:
    run = kernel.execute(
        "r = await nbstream.achat('hi', no_history=True, "
        "params={'nbstream': {'tokens': 60, 'rate': 20}})"
    )
    assert run.reply["status"] == "ok"
    assert len(run.of("display_data")) == 1
    # Updates showing the reply as it grows (not the waiting line's): 3 s of streaming, so 3
    # need only one a second, however busy the machine.
    texts = [u["data"]["text/plain"] for u in run.of("update_display_data")]
    assert len([t for t in texts if "\nstreaming · " in t]) >= 3
    assert "60 tokens" in run.final["data"]["text/plain"]
    assert run.final["metadata"]["nbstream"]["status"] == "complete"


def test_gather_draws_one_grid_with_few_messages(kernel) -> None:
    run = kernel.execute(
        "rs = nbstream.gather([f'q{i}' for i in range(20)], concurrency=20, "
        "params={'nbstream': {'tokens': 100, 'rate': 100}})"
    )
    assert run.reply["status"] == "ok"
    assert len(run.outputs) <= 10 * run.span + 3
    assert "20/20 requests" in run.final["data"]["text/plain"]


def test_interrupting_gather_closes_every_connection(kernel, log) -> None:
    msg_id = kernel.start(
        "nbstream.gather([f'q{i}' for i in range(5)], "
        "params={'nbstream': {'tokens': 1000, 'rate': 20}})"
    )
    assert log.wait_for(lambda r: len(r) == 5 and all(x.chunks_sent > 3 for x in r), HANG)
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=HANG)  # 1,000 tokens at 20/s would take 50 s
    assert run.error["ename"] == "KeyboardInterrupt"
    assert log.wait_for(lambda r: all(x.outcome == "disconnected" for x in r), HANG)
    assert all(x.chunks_sent < 1000 for x in log.records)
    assert kernel.execute("1 + 1").reply["status"] == "ok"


def test_agather_leaves_the_kernel_free_for_other_cells(kernel, log) -> None:
    started = kernel.execute(
        "import asyncio\n"
        "task = asyncio.ensure_future(nbstream.agather([f'q{i}' for i in range(10)], "
        "params={'nbstream': {'tokens': 1000, 'rate': 20}}))"  # 50 s each: cancelled below
    )
    assert started.reply["status"] == "ok"
    assert log.wait_for(lambda r: len(r) >= 8, HANG)
    # Another cell runs while the gather is still at work: the kernel itself says so.
    probe = kernel.execute("21 * 2, task.done()", timeout=HANG)
    assert probe.of("execute_result")[0]["data"]["text/plain"] == "(42, False)"
    assert not any(x.outcome == "complete" for x in log.records)  # still streaming meanwhile
    # Cancelling the task ends the gather and closes its connections.
    cancelled = kernel.execute(
        "task.cancel()\n"
        "try:\n    await task\nexcept asyncio.CancelledError:\n    print('cancelled')"
    )
    assert cancelled.text == "cancelled\n"
    assert log.wait_for(lambda r: all(x.outcome == "disconnected" for x in r), HANG)
