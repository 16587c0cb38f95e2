"""The event stream end to end, on the real Redis (Pub/Sub) and PostgreSQL (NOTIFY):
a worker (on the memory broker) emits, a subscriber on its own connection receives.
Each test uses a channel of its own."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from asynctasq import AsyncTask, Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.events import EVENT_TYPES, Event, EventSubscriber
from asynctasq.core.events.buffered import BufferedEmitter
from asynctasq.core.events.postgres import PostgresEventEmitter
from asynctasq.core.events.redis import RedisEventEmitter
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.testing import drain
from tests.backends_postgres import DSN
from tests.backends_redis import RedisServer, free_port, local_redis_url

FAST = Config(default_retry_delay=0.01, default_retry_backoff="fixed", lease_seconds=5)


class AlwaysFails(AsyncTask[None], name="events.always_fails"):
    config = {"max_attempts": 2, "retry_delay": 0.01, "queue": "failing"}

    async def execute(self) -> None:
        raise RuntimeError("no luck with redis://app:hunter2@db:6379/0")


class Reports(AsyncTask[str], name="events.reports"):
    config = {"queue": "reporting"}

    async def execute(self) -> str:
        await self.report_progress(0.4, {"rows": 400})
        return "done"


@dataclass
class Stream:
    """What a subscriber received, gathered in the background."""

    subscriber: EventSubscriber
    events: list[Event] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def _gather(self) -> None:
        async for event in self.subscriber.listen():
            self.events.append(event)

    def start(self) -> None:
        self.task = asyncio.create_task(self._gather())

    async def wait_for(self, condition: Callable[[list[Event]], bool], timeout: float = 20) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition(self.events):
            if asyncio.get_running_loop().time() > deadline:
                kinds = [e.event_type for e in self.events]
                raise AssertionError(f"timed out; received so far: {kinds}")
            await asyncio.sleep(0.02)

    def kinds(self, task_id: str | None = None) -> list[str]:
        return [e.event_type for e in self.events if task_id is None or e.task_id == task_id]

    async def stop(self) -> None:
        await self.subscriber.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def make_sink(
    kind: str, channel: str, **subscriber_options: object
) -> tuple[BufferedEmitter, EventSubscriber]:
    if kind == "redis":
        url = local_redis_url()
        return (
            RedisEventEmitter(url, channel=channel),
            EventSubscriber(redis_url=url, channel=channel, **subscriber_options),  # type: ignore[arg-type]
        )
    return (
        PostgresEventEmitter(DSN, channel=channel),
        EventSubscriber(postgres_dsn=DSN, channel=channel, **subscriber_options),  # type: ignore[arg-type]
    )


@pytest.fixture(params=["redis", "postgres"])
def sink_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def channel() -> str:
    return f"asynctasq-test-{secrets.token_hex(4)}"


@pytest.fixture
async def memory() -> AsyncIterator[MemoryDriver]:
    driver = MemoryDriver(keep_completed=True)
    await driver.connect()
    yield driver
    await driver.disconnect()


async def test_every_kind_arrives_in_order_per_job(
    sink_kind: str, channel: str, memory: MemoryDriver
) -> None:
    emitter, subscriber = make_sink(sink_kind, channel)
    await subscriber.connect()
    stream = Stream(subscriber)
    stream.start()
    try:
        dispatcher = Dispatcher(memory, FAST, event_emitter=emitter)
        failing = await dispatcher.dispatch(AlwaysFails())
        reporting = await dispatcher.dispatch(Reports())
        await drain(
            memory, ["failing", "reporting"], config=FAST, event_emitter=emitter, worker_id="w-1"
        )
        await emitter.close()
        await stream.wait_for(lambda events: "worker_offline" in [e.event_type for e in events])
    finally:
        await stream.stop()

    assert stream.kinds(failing) == [
        "task_enqueued",
        "task_started",
        "task_failed",
        "task_retrying",
        "task_started",
        "task_failed",
        "task_dead",
    ]
    assert stream.kinds(reporting) == [
        "task_enqueued",
        "task_started",
        "task_progress",
        "task_completed",
    ]
    assert set(stream.kinds()) == set(EVENT_TYPES)
    worker_kinds = [k for k in stream.kinds() if k.startswith("worker_")]
    assert worker_kinds[0] == "worker_online" and worker_kinds[-1] == "worker_offline"

    by_kind = {e.event_type: e for e in stream.events if e.task_id == failing}
    assert [e.attempt for e in stream.events if e.task_id == failing][1:] == [1, 1, 1, 2, 2, 2]
    dead = by_kind["task_dead"]
    assert dead.error is not None and dead.error.startswith("RuntimeError: no luck")
    assert "hunter2" not in dead.error and "hunter2" not in (dead.traceback or "")
    assert dead.traceback and "RuntimeError" in dead.traceback
    assert dead.duration_ms is not None and dead.worker_id == "w-1"
    assert by_kind["task_retrying"].run_at is not None
    (progress,) = [e for e in stream.events if e.event_type == "task_progress"]
    assert (progress.progress, progress.meta, progress.queue) == (0.4, {"rows": 400}, "reporting")
    done = next(e for e in stream.events if e.event_type == "task_completed")
    assert done.duration_ms is not None and done.task == "events.reports"
    online = next(e for e in stream.events if e.event_type == "worker_online")
    assert online.worker_id == "w-1" and online.queues == ("failing", "reporting")
    assert online.concurrency == FAST.concurrency and online.pid and online.host
    assert next(e for e in stream.events if e.event_type == "worker_offline").active == 0
    assert emitter.dropped == 0 and subscriber.malformed == 0


async def test_subscriber_filters_by_kind_and_queue(
    sink_kind: str, channel: str, memory: MemoryDriver
) -> None:
    emitter, subscriber = make_sink(
        sink_kind,
        channel,
        kinds=["task_completed", "task_dead", "worker_online"],
        queues=["reporting"],
    )
    await subscriber.connect()
    stream = Stream(subscriber)
    stream.start()
    try:
        dispatcher = Dispatcher(memory, FAST, event_emitter=emitter)
        await dispatcher.dispatch(AlwaysFails())  # queue "failing": filtered out
        reporting = await dispatcher.dispatch(Reports())
        await drain(memory, ["failing", "reporting"], config=FAST, event_emitter=emitter)
        await emitter.close()
        await stream.wait_for(lambda events: "task_completed" in [e.event_type for e in events])
        await asyncio.sleep(0.3)  # anything filtered wrongly would arrive meanwhile
    finally:
        await stream.stop()
    assert sorted(stream.kinds()) == ["task_completed", "worker_online"]
    assert stream.kinds(reporting) == ["task_completed"]


def test_unknown_kinds_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown event kind.*task_started"):
        EventSubscriber(redis_url=local_redis_url(), kinds=["task_exploded"])


def test_a_subscriber_needs_a_stream() -> None:
    with pytest.raises(ValueError, match="ASYNCTASQ_EVENTS_REDIS_URL"):
        EventSubscriber()


async def test_connect_to_nothing_says_where_without_the_password() -> None:
    port = free_port()  # nobody listens there
    subscriber = EventSubscriber(redis_url=f"redis://app:s3cret@127.0.0.1:{port}/0")
    with pytest.raises(ConnectionError) as caught:
        await subscriber.connect()
    assert "s3cret" not in str(caught.value) and f"127.0.0.1:{port}" in str(caught.value)


async def _reconnects(stream: Stream, emitter: BufferedEmitter, lose: Callable[[], object]) -> None:
    emitter.emit(Event("worker_heartbeat", worker_id="before"))
    await stream.wait_for(lambda events: any(e.worker_id == "before" for e in events))
    result = lose()
    if asyncio.iscoroutine(result):
        await result
    # events sent while the subscriber is away are lost (Pub/Sub keeps nothing):
    # keep sending until one arrives on the new connection
    for i in range(200):
        emitter.emit(Event("worker_heartbeat", worker_id=f"after-{i}"))
        await asyncio.sleep(0.1)
        if any((e.worker_id or "").startswith("after-") for e in stream.events):
            return
    raise AssertionError("the subscriber did not come back")


@pytest.mark.slow
async def test_the_subscriber_survives_a_redis_restart(tmp_path: Path, channel: str) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    emitter = RedisEventEmitter(server.url, channel=channel)
    stream = Stream(EventSubscriber(redis_url=server.url, channel=channel))
    await stream.subscriber.connect()
    stream.start()

    def restart() -> None:
        server.stop(kill=True)
        server.start()

    try:
        await _reconnects(stream, emitter, restart)
    finally:
        await stream.stop()
        await emitter.close()
        server.stop()


async def test_the_subscriber_survives_a_lost_postgres_connection(channel: str) -> None:
    emitter = PostgresEventEmitter(DSN, channel=channel)
    stream = Stream(EventSubscriber(postgres_dsn=DSN, channel=channel))
    await stream.subscriber.connect()
    stream.start()
    pid = stream.subscriber.source._conn.get_server_pid()  # type: ignore[attr-defined]

    async def terminate() -> None:
        admin = await asyncpg.connect(DSN)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()

    try:
        await _reconnects(stream, emitter, terminate)
    finally:
        await stream.stop()
        await emitter.close()
