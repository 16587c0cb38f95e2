"""A job dead-lettered by crash recovery (its last attempt's worker stopped renewing
its lease) gets its ``failed`` hook run by the worker whose sweep moved it, with a
LeaseExpiredError, and a ``task_dead`` event. Nothing about such a job (a hook that
raises, a payload that no longer decodes, a task this worker does not know) stops
the worker. The crashed worker is played by a driver that reserves and walks away."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from asynctasq import AsyncTask, Config, JobState, LeaseExpiredError, SyncTask, Worker
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Job
from asynctasq.testing import EventRecorder
from tests.backends import Backend

pytestmark = pytest.mark.timeout(60)

CONFIG = Config(lease_seconds=1.0, heartbeat_interval=0.1)
#: a queue the worker does not serve: recovery sweeps every queue all the same
ELSEWHERE = "elsewhere"

hooks: list[tuple[str, str, str]] = []  # (key, exception type, message)


class Hooked(AsyncTask[None]):
    config = {"max_attempts": 1}
    key: str

    async def execute(self) -> None:
        raise AssertionError("never runs here: its worker is the one that died")

    async def failed(self, exception: BaseException) -> None:
        hooks.append((self.key, type(exception).__name__, str(exception)))


class HookedSync(SyncTask[None]):
    config = {"max_attempts": 1}
    key: str

    def execute(self) -> None:
        raise AssertionError("never runs here")

    def failed(self, exception: BaseException) -> None:
        hooks.append((self.key, type(exception).__name__, str(exception)))


class HookRaises(Hooked):
    async def failed(self, exception: BaseException) -> None:
        await super().failed(exception)
        raise RuntimeError("the failed hook itself blew up")


class Fine(AsyncTask[None]):
    async def execute(self) -> None:
        pass


async def lapse(driver: Driver, count: int) -> None:
    """What a worker that dies right after its claim leaves: leases nobody renews.
    (A broker may hand out fewer than are ready in one reserve, RabbitMQ as its
    deliveries arrive: reserved until all ``count`` are, then left to lapse.)"""
    claimed: list[Job] = []
    deadline = time.monotonic() + 5
    while len(claimed) < count and time.monotonic() < deadline:
        claimed += await driver.reserve(
            [ELSEWHERE], limit=count - len(claimed), worker_id="dead-worker", lease_seconds=0.2
        )
    assert len(claimed) == count
    await asyncio.sleep(0.3)


async def until(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_failed_hooks_run_for_jobs_recovery_dead_letters(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    hooks.clear()
    caplog.set_level(logging.INFO, "asynctasq")
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, CONFIG)
    # lapsed before the worker starts: its start-up sweep takes them
    early = [
        await dispatcher.dispatch(Hooked(key="early").on_queue(ELSEWHERE)),
        await dispatcher.dispatch(HookedSync(key="sync").on_queue(ELSEWHERE)),
        await dispatcher.dispatch(HookRaises(key="raises").on_queue(ELSEWHERE)),
    ]
    await lapse(driver, 3)
    recorder = EventRecorder()
    worker = Worker(
        driver, ["default"], config=CONFIG, event_emitter=recorder, handle_signals=False
    )
    running = asyncio.create_task(worker.start())
    try:
        await until(lambda: len(hooks) == 3)
        # lapsed while the worker runs: its periodic sweep takes them, hooks or not
        unknown = Job(task="tests.nowhere.Gone", payload=b"\x81\xa4args\x80", queue=ELSEWHERE)
        unknown_too = Job(task=unknown.task, payload=unknown.payload, queue=ELSEWHERE)
        garbled = Job(task=Hooked.task_name, payload=b"\xc1 not msgpack", queue=ELSEWHERE)
        late = [*await driver.enqueue([unknown, unknown_too, garbled])]
        late.append(await dispatcher.dispatch(Hooked(key="late").on_queue(ELSEWHERE)))
        await lapse(driver, 4)
        await until(lambda: len(hooks) == 4 and recorder.kinds().count("task_dead") == 7)
        # the worker never stopped: it still runs jobs
        served = await dispatcher.dispatch(Fine())
        await until(lambda: "task_completed" in recorder.kinds(served))
    finally:
        worker.stop()
        await asyncio.wait_for(running, 20)

    assert sorted(key for key, _, _ in hooks) == ["early", "late", "raises", "sync"]  # once each
    for _, kind, message in hooks:
        assert kind == "LeaseExpiredError"
        assert "stopped renewing its lease" in message
    dead_events = [e for e in recorder.events if e.event_type == "task_dead"]
    assert sorted(e.task_id for e in dead_events) == sorted([*early, *late])
    for event in dead_events:
        assert event.worker_id == worker.worker_id and "LeaseExpiredError" in (event.error or "")
    for job_id in [*early, *late] if isinstance(driver, Inspection) else []:
        job = await driver.get(job_id)
        assert job is not None and (job.state, job.error) == (JobState.FAILED, LEASE_EXPIRED_ERROR)
    logs = caplog.text
    assert logs.count("does not have its task 'tests.nowhere.Gone'") == 1  # once, with the fix
    assert "ASYNCTASQ_TASK_MODULES" in logs
    assert f"job {garbled.id}" in logs and "cannot be rebuilt" in logs
    assert "HookRaises.failed() raised" in logs


def test_the_error_a_hook_gets_says_what_happened() -> None:
    error = LeaseExpiredError(3)
    assert error.attempts == 3
    assert "stopped renewing its lease" in str(error) and "max_attempts" in str(error)
