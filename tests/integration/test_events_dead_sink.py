"""A dead event sink never slows or fails job processing: events are dropped,
counted and logged instead, and closing the emitter takes a bounded time."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from asynctasq import AsyncTask, Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.events.buffered import BufferedEmitter
from asynctasq.core.events.emitters import EventEmitter
from asynctasq.core.events.postgres import PostgresEventEmitter
from asynctasq.core.events.redis import RedisEventEmitter
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import JobState
from asynctasq.testing import drain
from tests.backends_redis import RedisServer, free_port

FAST = Config(lease_seconds=5)
JOBS = 300


class Nothing(AsyncTask[None], name="events.nothing"):
    async def execute(self) -> None:
        return None


async def timed_drain(emitter: EventEmitter | None) -> float:
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    await Dispatcher(driver, FAST).dispatch_many(Nothing() for _ in range(JOBS))
    started = time.monotonic()
    await drain(driver, config=FAST, event_emitter=emitter, concurrency=50)
    elapsed = time.monotonic() - started
    assert (await driver.stats("default")).completed == JOBS
    await driver.disconnect()
    return elapsed


async def assert_not_slowed(emitter: BufferedEmitter, caplog: pytest.LogCaptureFixture) -> None:
    baseline = await timed_drain(None)
    with caplog.at_level(logging.WARNING, logger="asynctasq.events"):
        with_dead_sink = await timed_drain(emitter)
        started = time.monotonic()
        await emitter.close()
        closing = time.monotonic() - started
    # generous: a shared CI machine; a blocked worker would take send_timeout per event
    assert with_dead_sink < baseline * 3 + 2.0, (baseline, with_dead_sink)
    assert closing < emitter.close_timeout + 3.0
    assert emitter.dropped > 0 and emitter.sent == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "asynctasq.events"]
    assert any("dropped" in w for w in warnings)
    assert len(warnings) <= 6, warnings  # rate-limited, not one per event


def dead_redis() -> RedisEventEmitter:
    return RedisEventEmitter(
        f"redis://:pw@127.0.0.1:{free_port()}/0", channel="x", max_buffer=100, close_timeout=1
    )


def dead_postgres() -> PostgresEventEmitter:
    return PostgresEventEmitter(
        f"postgresql://postgres:pw@127.0.0.1:{free_port()}/test",
        channel="x",
        max_buffer=100,
        close_timeout=1,
    )


@pytest.mark.parametrize("make", [dead_redis, dead_postgres], ids=["redis", "postgres"])
async def test_a_closed_port_does_not_slow_the_worker(
    make: Callable[[], BufferedEmitter], caplog: pytest.LogCaptureFixture
) -> None:
    emitter = make()
    await assert_not_slowed(emitter, caplog)
    assert "pw@" not in " ".join(r.getMessage() for r in caplog.records)


@pytest.mark.slow
async def test_a_frozen_redis_does_not_slow_the_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The nastier failure: the server accepts connections and never answers."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    emitter = RedisEventEmitter(
        server.url, channel="x", max_buffer=100, close_timeout=1, send_timeout=2
    )
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        await assert_not_slowed(emitter, caplog)
    finally:
        server.process.send_signal(signal.SIGCONT)
        server.stop()


async def test_a_full_buffer_drops_the_oldest_and_counts() -> None:
    emitter = dead_redis()
    emitter.max_buffer = 3
    from asynctasq.core.events.types import Event

    for i in range(10):
        emitter.emit(Event("worker_heartbeat", active=i))
    assert emitter.dropped == 7
    assert [e.active for e in emitter._buffer] == [7, 8, 9]
    await emitter.close()
    assert emitter.dropped == 10  # the rest could not be delivered before close
    emitter.emit(Event("worker_heartbeat"))  # after close: dropped, never raised
    assert emitter.dropped == 11


async def test_jobs_complete_while_the_sink_is_down() -> None:
    emitter = dead_redis()
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    job_id = await Dispatcher(driver, FAST, event_emitter=emitter).dispatch(Nothing())
    await drain(driver, config=FAST, event_emitter=emitter)
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.COMPLETED
    await emitter.close()
    await driver.disconnect()
