"""The response cache: what the key holds, the store under concurrency and damage, replay."""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing
import shutil
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import looptime
import nbformat
import pytest

from nbstream.engine.result import (
    ChatResult,
    Finish,
    Status,
    TextDelta,
    Timings,
    ToolCall,
    Usage,
)
from nbstream.errors import CacheError, CacheMissError, ConfigError, StreamError
from nbstream.offline.demo import run_demo
from nbstream.offline.server import OfflineServer
from nbstream.session import Session
from nbstream.settings import NbStream, ReplayPace, resolve
from nbstream.show.live import driver
from nbstream.show.outputs import cache_table
from nbstream.show.rendering import footer
from nbstream.show.surfaces import NullSurface
from nbstream.store.cache import Entry, ResponseCache, parse_age
from nbstream.store.cache_key import CacheRequest, cache_host
from nbstream.store.replay import ReplayStream
from nbstream.turn import TurnOptions

from .conftest import HANG, SECRET_KEY
from .kernels import Kernel, clean_env

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
HELLO = [{"role": "user", "content": "Hello"}]
#: 2027-01-15 12:00 UTC
RECORDED_AT = 1_800_000_000.0


def reply(text: str = "Hi there, how are you?", **changes) -> ChatResult:
    values = {
        "text": text,
        "model": "gpt-4o-mini-2024-07-18",
        "finish_reason": "stop",
        "usage": Usage(9, 7, 16, {"prompt_tokens_details": {"cached_tokens": 0}}),
        "timings": Timings(started_at=RECORDED_AT, first_token=0.2, last_token=0.5, total=0.6),
        "response_id": "chatcmpl-1",
        "notices": ("server rejected stream_options; usage estimated",),
        **changes,
    }
    return ChatResult(**values)


def request(content: str = "Hello", **changes) -> CacheRequest:
    messages = [{"role": "user", "content": content}]
    values = {"host": "api.openai.com", "model": "gpt-4o-mini", "messages": messages, "params": {}}
    return CacheRequest(**{**values, **changes})


@pytest.fixture
def cache(tmp_path: Path) -> ResponseCache:
    return ResponseCache(tmp_path / ".nbstream" / "cache.sqlite")


# ---- the store


def test_a_result_round_trips_through_the_store(cache: ResponseCache) -> None:
    result = reply(tool_calls=(ToolCall(0, "call_1", "get_weather", '{"city": "Oslo"}'),))
    cache.put(request(), result)
    entry = cache.get(request().key)
    assert entry is not None and entry.result == result
    assert cache.get(request("other").key) is None
    path = cache.path
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    stored = sqlite3.connect(path).execute("SELECT request, preview, model FROM replies").fetchone()
    assert stored == (request().canonical(), "Hello", "gpt-4o-mini")


@pytest.mark.parametrize("status", [Status.INCOMPLETE, Status.INTERRUPTED, Status.FAILED])
def test_only_complete_replies_are_stored(cache: ResponseCache, status: Status) -> None:
    with pytest.raises(ValueError, match="only complete"):
        cache.put(request(), reply(status=status))
    assert cache.entries() == []


def test_reading_a_missing_store_creates_nothing(cache: ResponseCache) -> None:
    assert cache.get("0" * 64) is None and cache.entries() == [] and cache.clear() == 0
    assert not cache.path.parent.exists()


def test_list_and_clear_older_than(tmp_path: Path) -> None:
    now = [RECORDED_AT]
    cache = ResponseCache(tmp_path / "cache.sqlite", clock=lambda: now[0])
    cache.put(request("old | question\nsecond line"), reply(usage=Usage(5, 3, 8)))
    now[0] += 8 * 86400
    cache.put(request("new"), reply())
    assert [(e.preview, e.prompt_tokens, e.completion_tokens) for e in cache.entries()] == [
        ("old | question", 5, 3), ("new", 9, 7),
    ]  # fmt: skip
    table = cache_table(cache)
    assert "| 2027-01-15 08:00 | gpt-4o-mini | old \\| question | 5 → 3 |" in table
    assert "2 recorded in" in table
    assert cache.clear(older_than=parse_age("7d")) == 1
    assert [e.preview for e in cache.entries()] == ["new"]
    assert cache.clear() == 1 and cache.entries() == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)],
)
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["7", "d", "-1d", "7 days", ""])
def test_bad_ages(text: str) -> None:
    with pytest.raises(ValueError, match="not an age"):
        parse_age(text)


def _put_many(path: str, prefix: str, go) -> None:
    go.wait(30)
    store = ResponseCache(Path(path))
    for i in range(50):
        store.put(request(f"{prefix} {i}"), reply(f"reply {prefix} {i}"))


def test_two_processes_writing_at_once_lose_nothing(cache: ResponseCache) -> None:
    spawn = multiprocessing.get_context("spawn")
    go = spawn.Event()
    writers = [spawn.Process(target=_put_many, args=(str(cache.path), p, go)) for p in "ab"]
    for writer in writers:
        writer.start()
    go.set()
    for writer in writers:
        writer.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    assert len(cache.entries()) == 100
    entry = cache.get(request("b 49").key)
    assert entry is not None and entry.result.text == "reply b 49"


def _sql(path: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for statement in statements:
            db.execute(statement)


def _foreign(path: Path) -> None:
    _sql(path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)",
         "INSERT INTO photos (name) VALUES ('holiday.jpg')")  # fmt: skip


def _put_one(path: Path) -> None:
    with contextlib.closing(ResponseCache(path)) as cache:
        cache.put(request(), reply())


def _newer(path: Path) -> None:
    _put_one(path)
    _sql(path, "UPDATE nbstream_cache SET value = '99' WHERE name = 'version'")


def _no_table(path: Path) -> None:
    _put_one(path)
    _sql(path, "DROP TABLE replies")


def _bad_row(path: Path) -> None:
    _put_one(path)
    _sql(path, "UPDATE replies SET result = '{not json'")


def _cut(path: Path) -> None:
    with contextlib.closing(ResponseCache(path)) as cache:
        for i in range(200):
            cache.put(request(f"q{i}"), reply("x" * 500))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\x00" * 4096 + data[len(data) // 2 + 4096 :])


ALL = ("get", "put", "entries", "clear", "check")
NOT_SQLITE = "is not an SQLite database"


@pytest.mark.parametrize(
    ("damage", "problem", "failing"),
    [
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8), NOT_SQLITE, ALL),
        (lambda p: p.write_text('{"format": "nbstream-conversations"}'), NOT_SQLITE, ALL),
        (_foreign, "is an SQLite database but not an nbstream response cache", ALL),
        (_newer, "was written by a newer nbstream (cache format 99)", ALL),
        (_no_table, "is damaged (its replies table is missing)", ALL),
        (_cut, "(sqlite: ", ("put", "entries", "clear", "check")),
        # One unreadable reply: the others stay usable, and so does the store.
        (_bad_row, "is damaged (a stored reply is not JSON)", ("get", "entries")),
    ],
    ids=["garbage", "json", "foreign", "newer", "no-table", "cut", "bad-row"],
)  # fmt: skip
def test_an_unusable_store_is_a_clear_error_and_left_untouched(
    cache, damage, problem, failing
) -> None:
    cache.path.parent.mkdir(mode=0o700)
    damage(cache.path)
    before = cache.path.read_bytes()
    operations = {
        "get": lambda: cache.get(request().key),
        "put": lambda: cache.put(request("new"), reply()),
        "entries": cache.entries,
        "clear": cache.clear,
        "check": cache.check,
    }
    for name in failing:
        with pytest.raises(CacheError) as caught:
            operations[name]()
        message = str(caught.value)
        assert message.startswith(f"the response cache {cache.where} ") and problem in message
        assert "nbstream leaves it as it is" in message
        assert f"move it aside to start a new cache (mv {cache.where} {cache.where}.old)" in message
        assert cache.path.read_bytes() == before, name
    cache.close()  # SQLite's -wal and -shm live as long as the connection
    assert sorted(p.name for p in cache.path.parent.iterdir()) == ["cache.sqlite"]


# ---- replay


def entry(result: ChatResult | None = None) -> Entry:
    return Entry("k", RECORDED_AT, result or reply())


def play(stream: ReplayStream) -> tuple[ChatResult, list]:
    events: list = []
    stream.sink = events.append
    return asyncio.run(stream.run()), events


def play_in_loop_time(stream: ReplayStream) -> tuple[ChatResult, list[tuple[float, Any]]]:
    """Play on an event loop whose clock only moves when it sleeps: (loop time, event) pairs."""
    loop = looptime.new_event_loop(start=0.0)
    timed: list[tuple[float, Any]] = []
    stream.sink = lambda event: timed.append((loop.time(), event))
    try:
        return loop.run_until_complete(stream.run()), timed
    finally:
        loop.close()


def test_an_instant_replay_sends_the_text_at_once_and_keeps_the_original_record() -> None:
    result, events = play(ReplayStream(entry()))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi there, how are you?"]
    assert result.replayed and result == reply(replayed=True)
    assert result.usage == reply().usage and result.timings == reply().timings


def test_a_replay_at_the_recorded_pace_takes_the_recorded_time() -> None:
    text = " ".join(f"w{i}" for i in range(41))
    result, timed = play_in_loop_time(ReplayStream(entry(reply(text)), ReplayPace.RECORDED))
    deltas = [(at, e.text) for at, e in timed if isinstance(e, TextDelta)]
    assert len(deltas) == 41 and "".join(piece for _, piece in deltas) == text
    times = [at for at, _ in deltas]
    assert times[0] == pytest.approx(0.2) and times[-1] == pytest.approx(0.5)  # as recorded
    assert times == sorted(times) and times[20] == pytest.approx(0.35)  # spread evenly
    assert isinstance(timed[-1][1], Finish) and timed[-1][0] == pytest.approx(0.5)
    assert result.text == text and result.status is Status.COMPLETE


def test_cancelling_a_replay_leaves_an_interrupted_partial_result() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    recorded = reply(text, timings=Timings(RECORDED_AT, 0.0, 10.0, 10.0), usage=Usage(5, 100, 105))
    stream = ReplayStream(entry(recorded), ReplayPace.RECORDED)
    assert stream.snapshot().timings.first_token is None and not stream.has_output

    async def cancel_after_six_pieces() -> None:
        task = asyncio.ensure_future(stream.run())
        await asyncio.sleep(0.55)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop = looptime.new_event_loop(start=0.0)  # a piece every 10/99 s of loop time
    try:
        loop.run_until_complete(cancel_after_six_pieces())
    finally:
        loop.close()
    result = stream.result
    assert result is not None and result.status is Status.INTERRUPTED and result.replayed
    assert stream.has_output and text.startswith(result.text)
    assert result.text.split() == ["w0", "w1", "w2", "w3", "w4", "w5"]
    assert result.usage.completion_tokens == round(100 * len(result.text) / len(text))
    assert "interrupted after" in footer(result)


def test_the_footer_says_replayed_with_the_recording_date() -> None:
    line = footer(reply(replayed=True), cost=None)
    assert line.endswith("· finished · replayed from 2027-01-15")


# ---- the session: modes, recording rules, usage


@pytest.fixture
def session(server: OfflineServer, log, tmp_path: Path, monkeypatch) -> Session:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NBSTREAM_BASE_URL", "NBSTREAM_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    config = NbStream(model="nbstream-demo", max_retries=0)
    return Session(config, cache=tmp_path / ".nbstream" / "cache.sqlite")


def ask(session: Session, prompt: str, **options) -> ChatResult:
    return session.chat(prompt, TurnOptions(**options), driver(NullSurface()))


def test_record_then_replay_sends_nothing_and_counts_apart(session: Session, log) -> None:
    live = ask(session, "Hello", cache="record", params={"nbstream": {"text": "Hi!"}})
    assert len(log.records) == 1 and not live.replayed
    session.store.reset("default")
    again = ask(session, "Hello", cache="strict", params={"nbstream": {"text": "Hi!"}})
    assert len(log.records) == 1
    assert again.replayed and again.text == "Hi!" and again.usage == live.usage
    assert again.timings == live.timings and again.model == live.model
    assert [e.result.replayed for e in session.store.thread().exchanges] == [True]
    ask(session, "And then?", params={"nbstream": {"text": "Then this."}})
    assert [m["content"] for m in log.records[-1].body["messages"]] == ["Hello", "Hi!", "And then?"]
    table = session.totals.table()
    assert "| nbstream-demo (replayed) | 1 |" in table and "| nbstream-demo | 2 |" in table
    assert session.cost(again) is None


def test_the_key_ignores_the_api_key_timeouts_retries_and_streaming(
    session: Session, log, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    ask(session, "Hello", cache="record", timeout=5, retries=0)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-another-key-0123456789")
    again = ask(session, "Hello", cache="strict", timeout=9, retries=3, stream=False, new=True)
    assert again.replayed and len(log.records) == 1
    assert SECRET_KEY not in session.cache.path.read_bytes().decode("latin-1")


def test_a_strict_miss_names_the_cell_and_prompt_and_sends_nothing(session: Session, log) -> None:
    with pytest.raises(CacheMissError) as caught:
        session.chat("Summarise the data\nin three bullets", TurnOptions(cache="strict"),
                     driver(NullSurface()), cell_id="cell-7")  # fmt: skip
    message = str(caught.value)
    assert "cell cell-7, prompt 'Summarise the data'" in message
    assert f"in {session.cache.where}; nothing was sent" in message
    assert "%chat cache record" in message
    assert log.records == [] and session.store.thread().exchanges == []


def test_a_replay_miss_asks_the_model_and_records(session: Session, log) -> None:
    ask(session, "Hello", cache="replay", no_history=True)
    assert len(log.records) == 1 and len(session.cache.entries()) == 1
    assert ask(session, "Hello", cache="replay", no_history=True).replayed


@pytest.mark.parametrize(
    ("model", "raises"), [("fault-disconnect", None), ("fault-no-finish", None),
                          ("fault-error-event", StreamError)]
)  # fmt: skip
def test_incomplete_and_failed_replies_are_not_recorded(session: Session, model, raises) -> None:
    if raises:
        with pytest.raises(raises):
            ask(session, "Hello", cache="record", model=model)
    else:
        assert ask(session, "Hello", cache="record", model=model).status is Status.INCOMPLETE
    assert session.cache.entries() == []


def test_a_damaged_store_fails_before_any_request(session: Session, log) -> None:
    session.cache.path.parent.mkdir(mode=0o700)
    session.cache.path.write_bytes(b"not a database at all")
    for mode in ("record", "replay", "strict"):
        with pytest.raises(CacheError, match="not an SQLite database"):
            ask(session, "Hello", cache=mode)
    assert log.records == [] and session.cache.path.read_bytes() == b"not a database at all"


def test_modes_come_from_options_then_config_then_environment() -> None:
    env = {"OPENAI_API_KEY": SECRET_KEY, "NBSTREAM_CACHE": "replay"}
    assert resolve(NbStream(), {"OPENAI_API_KEY": SECRET_KEY}).cache == "off"
    assert resolve(NbStream(), env).cache == "replay"
    assert resolve(NbStream(cache="record"), env).cache == "record"
    assert resolve(NbStream(cache="record"), env, cache="strict").cache == "strict"
    assert resolve(NbStream(), env).replay_pace == "instant"


@pytest.mark.parametrize(
    ("config", "env", "explicit", "named"),
    [
        ({}, {}, "sometimes", "cache must be one of off, record, replay, strict, not 'sometimes'"),
        ({"cache": "on"}, {}, None, "NbStream.cache must be one of off, record, replay, strict"),
        ({}, {"NBSTREAM_CACHE": "yes"}, None, "NBSTREAM_CACHE must be one of off, record"),
        (
            {"replay_pace": "fast"},
            {},
            None,
            "NbStream.replay_pace must be one of instant, recorded",
        ),
    ],
)
def test_a_bad_mode_or_pace_is_one_config_error_naming_the_choices(
    config, env, explicit, named
) -> None:
    with pytest.raises(ConfigError, match=named):
        resolve(NbStream(**config), {"OPENAI_API_KEY": SECRET_KEY, **env}, cache=explicit)


# ---- real kernels


def kernel_env(server: OfflineServer, **extra: str) -> dict[str, str]:
    return clean_env(OPENAI_BASE_URL=server.url, NBSTREAM_MODEL="nbstream-demo", **extra)


@pytest.fixture(scope="module")
def kernel(server: OfflineServer, tmp_path_factory):
    started = Kernel(kernel_env(server), cwd=tmp_path_factory.mktemp("cache-kernel"))
    started.execute("%load_ext nbstream")
    yield started
    started.shutdown()


CELL = '%%chat -p nbstream=\'{"text": "The tide turns twice a day."}\'\nTell me about tides'


@pytest.mark.kernel
def test_a_recorded_cell_replays_in_a_fresh_kernel_without_a_request(
    server: OfflineServer, log, tmp_path: Path
) -> None:
    first = Kernel(kernel_env(server), cwd=tmp_path)
    try:
        first.execute("%load_ext nbstream")
        assert "cache mode record" in first.execute("%chat cache record").text
        recorded = first.execute(CELL, cell_id="c1")
        assert recorded.reply["status"] == "ok" and len(log.records) == 1
    finally:
        first.shutdown()
    second = Kernel(kernel_env(server, NBSTREAM_CACHE="replay"), cwd=tmp_path)
    try:
        second.execute("%load_ext nbstream")
        assert "cache mode replay" in second.execute("%chat cache").text
        replayed = second.execute(CELL, cell_id="c1")
        assert len(log.records) == 1
        live_text = recorded.final["data"]["text/plain"]
        text = replayed.final["data"]["text/plain"]
        assert text.startswith("The tide turns twice a day.\n")
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert text.endswith(f"finished · replayed from {today}")
        assert text.rpartition(" · replayed")[0] == live_text  # same usage, timings, model
        assert replayed.final["metadata"]["nbstream"]["replayed"] is True
        usage = second.execute("%chat usage").final["data"]["text/plain"]
        assert "| nbstream-demo (replayed) | 1 |" in usage and "| nbstream-demo |" not in usage
        listing = second.execute("%chat cache list").final["data"]["text/plain"]
        assert "| nbstream-demo | Tell me about tides |" in listing
        assert "removed 1 recorded reply" in second.execute("%chat cache clear").text
    finally:
        second.shutdown()


@pytest.mark.kernel
def test_a_strict_miss_in_a_kernel_names_the_cell_and_sends_nothing(kernel: Kernel, log) -> None:
    run = kernel.execute("%%chat --cache strict\nWhat changed in Q3?\nBe brief.", cell_id="q3")
    assert run.reply["status"] == "error" and run.error["ename"] == "CacheMissError"
    shown = run.error["traceback"][0]
    assert "cell q3, prompt 'What changed in Q3?' in .nbstream/cache.sqlite; nothing" in shown
    assert log.records == []


@pytest.mark.kernel
def test_bad_cache_modes_are_one_line_usage_errors(kernel: Kernel, log) -> None:
    run = kernel.execute("%chat cache sometimes")
    assert run.reply["status"] == "error" and "off|record|replay|strict" in run.text
    run = kernel.execute("%%chat --cache sometimes\nhi")
    assert "invalid choice: 'sometimes'" in run.text and log.records == []
    run = kernel.execute("%chat cache clear --older-than soon")
    assert run.reply["status"] == "error" and "not an age: 'soon'" in run.text


@pytest.mark.kernel
def test_an_interrupted_reply_is_not_recorded(kernel: Kernel, log) -> None:
    cell = '%%chat -t intr {} -p nbstream=\'{{"tokens": 1000, "rate": 20}}\'\nlong story'
    msg_id = kernel.client.execute(cell.format("--cache record"))
    assert log.wait_for(lambda r: bool(r) and r[-1].chunks_sent >= 5, HANG)
    kernel.manager.interrupt_kernel()
    assert kernel.collect(msg_id).error["ename"] == "KeyboardInterrupt"
    msg_id = kernel.client.execute(cell.format("--cache replay --new"))
    assert log.wait_for(lambda r: len(r) == 2, HANG)  # not in the store: asked again
    kernel.manager.interrupt_kernel()
    kernel.collect(msg_id)


@pytest.mark.kernel
def test_interrupting_a_replay_at_the_recorded_pace_keeps_it_as_interrupted(
    kernel: Kernel, server: OfflineServer, log
) -> None:
    assert kernel.cwd is not None
    cwd = kernel.cwd
    words = " ".join(f"w{i}" for i in range(300))
    slow = reply(words, model="nbstream-demo", timings=Timings(RECORDED_AT, 0.1, 30.0, 30.0),
                 usage=Usage(9, 300, 309), notices=())  # fmt: skip
    host = cache_host(resolve(NbStream(), {"OPENAI_BASE_URL": server.url}))
    keyed = CacheRequest(host, "nbstream-demo", [{"role": "user", "content": "slow replay"}], {})
    ResponseCache(cwd / ".nbstream" / "cache.sqlite").put(keyed, slow)
    kernel.execute('%config NbStream.replay_pace = "recorded"')
    msg_id = kernel.client.execute("%%chat -t replay --no-history --cache strict\nslow replay")
    kernel.wait_for_output(msg_id, "w2 ", timeout=HANG)
    kernel.manager.interrupt_kernel()
    run = kernel.collect(msg_id, timeout=HANG)  # the whole replay would take 30 s
    kernel.execute('%config NbStream.replay_pace = "instant"')
    assert run.error["ename"] == "KeyboardInterrupt"
    text = run.final["data"]["text/plain"]
    assert text.startswith("w0 w1 w2") and "w299" not in text
    assert "interrupted after" in text and "replayed from 2027-01-15" in text
    assert log.records == []


@pytest.mark.kernel
def test_the_cache_notebook_records_then_replays_offline(tmp_path: Path) -> None:
    shutil.copy(NOTEBOOKS / "cache.ipynb", tmp_path / "cache.ipynb")
    saved = run_demo(tmp_path / "cache.ipynb", tmp_path / "out.ipynb", out=io.StringIO())
    nb = nbformat.read(saved, as_version=4)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not any(o.output_type == "error" for o in outputs)
    replies = [o["data"]["text/plain"] for o in outputs if "nbstream" in o.get("metadata", {})]
    assert len(replies) == 2
    assert "replayed" not in replies[0] and "replayed from" in replies[1]
    assert replies[0].split("\n")[-2] == replies[1].split("\n")[-2]  # the same reply text
    assert (tmp_path / ".nbstream" / "cache.sqlite").exists()
    texts = "".join(o.get("text", "") + str(o.get("data", "")) for o in outputs)
    assert "(replayed)" in texts and "cache mode off" in texts
