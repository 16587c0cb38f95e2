"""The worker on the in-memory broker: every path a job can take."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from asynctasq import AsyncTask, Backoff, Config, JobState, PermanentError, SyncTask, Worker, task
from asynctasq.clock import ManualClock
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import Job, Outcome, Recovery
from asynctasq.serialization import dumps
from asynctasq.testing import EventRecorder, drain, run_job

FAST = Config(default_retry_delay=0.01, default_retry_backoff="fixed", lease_seconds=5)


class Echo(AsyncTask[dict]):
    value: object

    async def execute(self) -> dict:
        return {"echo": self.value, "attempt": self._attempts, "id": self._task_id}


class Flaky(AsyncTask[str]):
    config = {"max_attempts": 4, "retry_delay": 0.01}
    calls: ClassVar[list[int]] = []
    failures: int

    async def execute(self) -> str:
        Flaky.calls.append(self._attempts)
        if self._attempts <= self.failures:
            raise ConnectionError(f"attempt {self._attempts}")
        return "ok"


class AlwaysFails(SyncTask[None]):
    config = {"max_attempts": 3, "retry_delay": Backoff(base=0.01, jitter=False)}
    failed_calls: ClassVar[list[str]] = []

    def execute(self) -> None:
        raise ValueError("broken")

    def failed(self, exception: BaseException) -> None:
        AlwaysFails.failed_calls.append(str(exception))
        raise RuntimeError("the failed hook itself blew up")


class Picky(AsyncTask[None]):
    config = {"max_attempts": 5}

    async def execute(self) -> None:
        raise KeyError("no retry for me")

    def should_retry(self, exception: BaseException) -> bool:
        return not isinstance(exception, KeyError)


class Permanent(AsyncTask[None]):
    config = {"max_attempts": 5}

    async def execute(self) -> None:
        raise PermanentError("bad input")


class SlowAsync(AsyncTask[None]):
    config = {"timeout": 0.2, "max_attempts": 1}
    cancelled: ClassVar[bool] = False

    async def execute(self) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            SlowAsync.cancelled = True
            raise


class SlowSync(SyncTask[None]):
    config = {"timeout": 0.2, "max_attempts": 1}
    finished = threading.Event()

    def execute(self) -> None:
        time.sleep(1.5)  # well past the timeout, so a loaded machine cannot blur the two
        SlowSync.finished.set()


class Sleeper(AsyncTask[None]):
    seconds: float

    async def execute(self) -> None:
        await asyncio.sleep(self.seconds)


class Spawner(AsyncTask[None]):
    async def execute(self) -> None:
        await Echo(value="child").dispatch()


class Progress(AsyncTask[None]):
    async def execute(self) -> None:
        await self.report_progress(0.5, {"rows": 5})


@task
async def add(a: int, b: int) -> int:
    return a + b


async def memory(**options: object) -> MemoryDriver:
    driver = MemoryDriver(keep_completed=True, **options)  # type: ignore[arg-type]
    await driver.connect()
    return driver


async def test_a_job_runs_and_its_result_is_kept() -> None:
    outcome = await run_job(Echo(value=[1, (2, 3)]), config=FAST)
    assert outcome.state is JobState.COMPLETED
    assert outcome.result == {"echo": [1, (2, 3)], "attempt": 1, "id": outcome.job_id}
    assert (await run_job(add(2, 3), config=FAST)).result == 5


async def test_a_failing_job_is_retried_until_it_succeeds() -> None:
    Flaky.calls.clear()
    outcome = await run_job(Flaky(failures=2), config=FAST)
    assert outcome.state is JobState.COMPLETED
    assert outcome.result == "ok"
    assert Flaky.calls == [1, 2, 3]


async def test_given_up_after_max_attempts_with_failed_called_once() -> None:
    AlwaysFails.failed_calls.clear()
    recorder = EventRecorder()
    outcome = await run_job(AlwaysFails(), config=FAST, event_emitter=recorder)
    assert outcome.state is JobState.FAILED
    assert outcome.attempts == 3
    assert outcome.error is not None and outcome.error.startswith("ValueError: broken")
    assert "Traceback" in outcome.error
    assert AlwaysFails.failed_calls == ["broken"]
    assert recorder.kinds(outcome.job_id) == [
        "task_started", "task_failed", "task_retrying",
        "task_started", "task_failed", "task_retrying",
        "task_started", "task_failed", "task_dead",
    ]  # fmt: skip


async def test_should_retry_and_permanent_errors_stop_retries() -> None:
    assert (await run_job(Picky(), config=FAST)).attempts == 1
    outcome = await run_job(Permanent(), config=FAST)
    assert (outcome.state, outcome.attempts) == (JobState.FAILED, 1)


async def test_retry_after_on_the_job_overrides_the_task() -> None:
    Flaky.calls.clear()
    started = time.monotonic()
    outcome = await run_job(Flaky(failures=1).retry_after(0.5), config=FAST)
    assert outcome.state is JobState.COMPLETED
    assert time.monotonic() - started >= 0.45


async def test_async_timeout_cancels_the_coroutine() -> None:
    SlowAsync.cancelled = False
    outcome = await run_job(SlowAsync(), config=FAST)
    assert outcome.state is JobState.FAILED
    assert outcome.error is not None and outcome.error.startswith("TaskTimeoutError")
    assert SlowAsync.cancelled


async def test_sync_timeout_fails_on_time_and_leaves_the_thread_to_finish() -> None:
    SlowSync.finished.clear()
    started = time.monotonic()
    outcome = await run_job(SlowSync(), config=FAST)
    assert outcome.state is JobState.FAILED
    assert "TaskTimeoutError" in (outcome.error or "")
    assert time.monotonic() - started < 1.2  # the timeout (0.2 s), not the body's 1.5 s
    assert SlowSync.finished.wait(3)


async def test_poison_jobs_are_dead_lettered_and_the_worker_goes_on() -> None:
    driver = await memory()
    good = await Dispatcher(driver, FAST).dispatch(Echo(value=1))
    poison = [
        Job(task=Echo.task_name, payload=b"\xc1\xc1"),
        Job(task="nobody.registered.This", payload=dumps({"args": {}})),
        Job(task=Echo.task_name, payload=dumps({"args": {"wrong": 1}})),
    ]
    await driver.enqueue(poison)
    await drain(driver, config=FAST.replace(unknown_task_grace=0))  # no wait for a redeploy
    assert (await driver.get(good)).state is JobState.COMPLETED  # type: ignore[union-attr]
    errors = [(await driver.get(j.id)).error for j in poison]  # type: ignore[union-attr]
    assert errors[0] is not None and "undecodable payload" in errors[0]
    assert errors[1] is not None and "unknown task 'nobody.registered.This'" in errors[1]
    assert errors[2] is not None and "arguments no longer match" in errors[2]
    for job in poison:
        stored = await driver.get(job.id)
        assert stored is not None and (stored.state, stored.attempts) == (JobState.FAILED, 1)


async def test_the_allow_list_limits_what_runs() -> None:
    driver = await memory()
    job_id = await Dispatcher(driver, FAST).dispatch(Echo(value=1))
    await drain(driver, config=FAST.replace(task_allow_list=("other.*",), unknown_task_grace=0))
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.FAILED
    assert "unknown task" in (job.error or "")


async def test_concurrency_bounds_jobs_in_flight() -> None:
    driver = await memory()
    await Dispatcher(driver, FAST).dispatch_many(Sleeper(seconds=0.2) for _ in range(6))
    started = time.monotonic()
    worker = await drain(driver, config=FAST, concurrency=3)
    elapsed = time.monotonic() - started
    assert worker.processed == 6
    assert 0.38 <= elapsed < 2.0  # two waves of three


async def test_stop_lets_jobs_in_flight_finish() -> None:
    driver = await memory()
    job_id = await Dispatcher(driver, FAST).dispatch(Sleeper(seconds=0.3))
    worker = Worker(driver, ["default"], config=FAST, handle_signals=False)
    running = asyncio.create_task(worker.start())
    await asyncio.sleep(0.1)
    worker.stop()
    await asyncio.wait_for(running, 5)
    assert (await driver.get(job_id)).state is JobState.COMPLETED  # type: ignore[union-attr]


async def test_jobs_still_running_at_the_shutdown_timeout_go_back_at_once() -> None:
    driver = await memory()
    job_id = await Dispatcher(driver, FAST).dispatch(Sleeper(seconds=30))
    worker = Worker(driver, ["default"], config=FAST, shutdown_timeout=0.2, handle_signals=False)
    running = asyncio.create_task(worker.start())
    await asyncio.sleep(0.1)
    started = time.monotonic()
    worker.stop()
    await asyncio.wait_for(running, 5)
    assert time.monotonic() - started < 2
    job = await driver.get(job_id)
    assert job is not None and (job.state, job.attempts, job.worker_id) == (
        JobState.PENDING,
        0,
        None,
    )


async def test_an_immediate_stop_releases_everything() -> None:
    driver = await memory()
    await Dispatcher(driver, FAST).dispatch_many(Sleeper(seconds=30) for _ in range(3))
    worker = Worker(driver, ["default"], config=FAST, handle_signals=False)
    running = asyncio.create_task(worker.start())
    await asyncio.sleep(0.1)
    worker.stop(immediate=True)
    await asyncio.wait_for(running, 5)
    assert (await driver.stats("default")).depth == 3


async def test_leases_are_renewed_while_a_job_runs() -> None:
    driver = await memory()
    job_id = await Dispatcher(driver, FAST).dispatch(Sleeper(seconds=0.8))
    worker = await drain(driver, config=FAST, lease_seconds=0.3)
    job = await driver.get(job_id)
    assert job is not None and (job.state, job.attempts) == (JobState.COMPLETED, 1)
    assert worker._outcomes.rejected == 0


async def test_a_task_can_dispatch_another_through_the_worker_driver() -> None:
    driver = await memory()
    await Dispatcher(driver, FAST).dispatch(Spawner())
    worker = await drain(driver, config=FAST)
    assert worker.processed == 2


async def test_progress_is_recorded_and_announced() -> None:
    recorder = EventRecorder()
    outcome = await run_job(Progress(), config=FAST, event_emitter=recorder)
    assert outcome.state is JobState.COMPLETED
    (event,) = [e for e in recorder.events if e.event_type == "task_progress"]
    assert (event.progress, event.meta) == (0.5, {"rows": 5})


async def test_the_worker_announces_itself_and_its_jobs() -> None:
    recorder = EventRecorder()
    driver = await memory()
    job_id = await Dispatcher(driver, FAST).dispatch(Echo(value=1))
    worker = await drain(driver, config=FAST, event_emitter=recorder, worker_id="w-test")
    kinds = recorder.kinds()
    assert kinds[0] == "worker_online"
    assert kinds[-1] == "worker_offline"
    assert recorder.kinds(job_id) == ["task_started", "task_completed"]
    done = next(e for e in recorder.events if e.event_type == "task_completed")
    assert done.worker_id == "w-test" and done.duration_ms is not None
    assert worker.info().worker_id == "w-test"
    assert await driver.list_workers() == []  # removed on the way out


async def test_burst_waits_for_delayed_jobs() -> None:
    driver = await memory()
    job_id = await Dispatcher(driver, FAST).dispatch(Echo(value=1).delay(0.3))
    await drain(driver, config=FAST)
    assert (await driver.get(job_id)).state is JobState.COMPLETED  # type: ignore[union-attr]


@pytest.mark.parametrize("queues", [["a", "b"]])
async def test_a_worker_serves_only_its_queues(queues: list[str]) -> None:
    driver = await memory()
    dispatcher = Dispatcher(driver, FAST)
    ids = [await dispatcher.dispatch(Echo(value=q).on_queue(q)) for q in ("a", "b", "c")]
    await drain(driver, queues, config=FAST)
    states = [(await driver.get(i)).state for i in ids]  # type: ignore[union-attr]
    assert states == [JobState.COMPLETED, JobState.COMPLETED, JobState.PENDING]


class LeaksDsn(AsyncTask[None]):
    config = {"max_attempts": 1}

    async def execute(self) -> None:
        raise ConnectionError("cannot reach postgresql://app:hunter2@db:5432/app")


async def test_passwords_in_errors_never_reach_the_broker_or_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome = await run_job(LeaksDsn(), config=FAST)
    assert outcome.error is not None
    assert "hunter2" not in outcome.error
    assert "postgresql://app:***@db:5432/app" in outcome.error
    assert "hunter2" not in caplog.text


async def test_prefetch_claims_ahead_and_hands_back_what_it_did_not_start() -> None:
    driver = await memory()
    dispatcher = Dispatcher(driver, FAST)
    await dispatcher.dispatch_many(Sleeper(seconds=0.01) for _ in range(50))
    worker = await drain(driver, config=FAST, concurrency=2, prefetch=4)
    assert worker.processed == 50

    await dispatcher.dispatch_many(Sleeper(seconds=30) for _ in range(6))
    worker = Worker(driver, ["default"], config=FAST, concurrency=2, prefetch=4,
                    shutdown_timeout=0.1, handle_signals=False)  # fmt: skip
    running = asyncio.create_task(worker.start())
    await asyncio.sleep(0.2)
    assert (await driver.stats("default")).processing == 6  # 2 running + 4 prefetched
    worker.stop()
    await asyncio.wait_for(running, 5)
    stats = await driver.stats("default")
    assert (stats.depth, stats.processing) == (6, 0)


class CoreOnly(Driver):
    """A broker with the core alone: the memory broker behind the seven methods every
    driver has, without inspection, a worker registry or a progress store."""

    name = "core-only"
    shared_across_processes = False

    def __init__(self, inner: MemoryDriver) -> None:
        self.inner = inner

    async def connect(self) -> None:
        await self.inner.connect()

    async def disconnect(self) -> None:
        pass

    async def enqueue(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]:
        return await self.inner.enqueue(jobs, connection=connection)

    async def claim(
        self, queues: Sequence[str], *, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        return await self.inner.claim(
            queues, limit=limit, worker_id=worker_id, lease_seconds=lease_seconds
        )

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        return await self.inner.settle(outcomes)

    async def renew(
        self, worker_id: str, job_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        return await self.inner.renew(worker_id, job_ids, lease_seconds)

    async def recover_expired(self) -> Recovery:
        return await self.inner.recover_expired()


async def test_a_driver_with_the_core_alone_runs_jobs_and_says_once_what_it_lacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = await memory()
    ids = await Dispatcher(inner, FAST).dispatch_many([Echo(value=1), Progress()])
    recorder = EventRecorder()
    with caplog.at_level(logging.INFO, logger="asynctasq.worker"):
        worker = await drain(CoreOnly(inner), config=FAST, event_emitter=recorder)
    assert worker.processed == 2
    states = [(await inner.get(i)).state for i in ids]  # type: ignore[union-attr]
    assert states == [JobState.COMPLETED] * 2
    assert "task_progress" in recorder.kinds(ids[1])  # still announced, just not stored
    lacks = [r.getMessage() for r in caplog.records if " lacks " in r.getMessage()]
    assert [line.split(":")[0] for line in lacks] == [
        "the core-only driver lacks WorkerRegistry",
        "the core-only driver lacks ProgressStore",
        "the core-only driver lacks Inspection",
    ]


class FailsOnce(AsyncTask[None]):
    config = {"max_attempts": 2, "retry_delay": 3600}

    async def execute(self) -> None:
        if self._attempts == 1:
            raise ConnectionError("not yet")


async def test_time_comes_from_the_worker_clock() -> None:
    clock = ManualClock(start=time.time())
    recorder = EventRecorder()
    driver = await memory()
    job_id = await Dispatcher(driver, FAST).dispatch(FailsOnce())
    worker = Worker(driver, ["default"], config=FAST, clock=clock, event_emitter=recorder,
                    heartbeat_interval=0.05, handle_signals=False)  # fmt: skip
    running = asyncio.create_task(worker.start())
    try:
        for _ in range(200):
            job = await driver.get(job_id)
            if job is not None and job.state is JobState.SCHEDULED:
                break
            await asyncio.sleep(0.01)
        assert job is not None and job.run_at == clock.time() + 3600  # the backoff's run_at
        beats = recorder.kinds().count("worker_heartbeat")
        await asyncio.sleep(0.3)  # real time passes; the worker's does not
        assert recorder.kinds().count("worker_heartbeat") == beats
        clock.advance(1.0)
        for _ in range(100):
            if recorder.kinds().count("worker_heartbeat") > beats:
                break
            await asyncio.sleep(0.01)
        assert recorder.kinds().count("worker_heartbeat") == beats + 1
        assert worker.info().last_seen == clock.time()
    finally:
        worker.stop()
        await asyncio.wait_for(running, 5)


class SlowSweep(MemoryDriver):
    """Its recovery sweeps start only once ``go`` is set (or, noted, after 30 s)."""

    def __init__(self, go: asyncio.Event) -> None:
        super().__init__(keep_completed=True)
        self.go = go
        self.sweeps = 0
        self.gave_up_waiting = False

    async def recover_expired(self) -> Recovery:
        try:
            await asyncio.wait_for(self.go.wait(), 30)
        except TimeoutError:
            self.gave_up_waiting = True
        self.sweeps += 1
        return await super().recover_expired()


class SetsGo(AsyncTask[None]):
    go: ClassVar[asyncio.Event]

    async def execute(self) -> None:
        SetsGo.go.set()


async def test_the_first_claim_does_not_wait_for_the_first_recovery_sweep() -> None:
    """Start-up: a waiting job starts while the first sweep is still under way (the
    sweep here waits for that job: had the claim waited for it, neither would end)."""
    SetsGo.go = asyncio.Event()
    driver = SlowSweep(SetsGo.go)
    await driver.connect()
    job_id = await Dispatcher(driver, FAST).dispatch(SetsGo())
    await drain(driver, config=FAST)
    assert not driver.gave_up_waiting  # the job let the sweep go
    assert (await driver.get(job_id)).state is JobState.COMPLETED  # type: ignore[union-attr]
    assert driver.sweeps >= 1


async def test_burst_runs_what_the_first_recovery_sweep_gives_back() -> None:
    """A job whose worker died (its lease lapsed) is recovered by the first sweep, which
    runs beside the first claim: burst mode waits for it before calling the queues
    drained."""
    driver = SlowSweep(asyncio.Event())
    await driver.connect()
    job_id = await Dispatcher(driver, FAST).dispatch(Echo(value=1))
    assert [j.id for j in await driver.reserve(["default"], limit=1, worker_id="dead",
                                               lease_seconds=0.01)] == [job_id]  # fmt: skip
    await asyncio.sleep(0.05)  # its lease lapses
    asyncio.get_running_loop().call_later(0.2, driver.go.set)  # the sweep is slow
    await asyncio.wait_for(drain(driver, config=FAST), 30)
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.COMPLETED, job


class DownRegistry(MemoryDriver):
    async def heartbeat(self, info: Any, ttl: float) -> None:
        raise ConnectionError("the broker went away")


async def test_a_failed_first_heartbeat_still_ends_the_start() -> None:
    driver = DownRegistry(keep_completed=True)
    await driver.connect()
    worker = Worker(driver, ["default"], config=FAST, handle_signals=False)
    with pytest.raises(ConnectionError, match="went away"):
        await asyncio.wait_for(worker.start(), 30)
