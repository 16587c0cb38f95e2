"""A worker whose own lease lapsed (a long GC pause, a frozen VM) and that reserves
the same job again runs two attempts of one job at once. Everything it keeps about
a job in flight (running task, lease, renewal, settlement) is keyed by (job id,
attempt): the first attempt ending must leave the second one's records alone.

The freeze is real: the first attempt blocks the worker's event loop for longer than
its lease, and meanwhile "another worker" (a sweep from a thread, with its own
connection) recovers the job. Once the loop runs again, the same worker reserves the
job (attempt 2); attempt 1 then ends, its outcome is fenced out by the broker, and
attempt 2 must run on, its lease renewed, to complete the job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import ClassVar

import pytest

from asynctasq import AsyncTask, Config, JobState, Worker
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.renewal import HeldLeases, renew_leases
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import Job
from tests.backends import Backend
from tests.conftest import skip_without

pytestmark = pytest.mark.timeout(60)

LEASE = 1.0
CONFIG = Config(lease_seconds=LEASE, heartbeat_interval=0.2)


def sweep_elsewhere(backend: Backend) -> int:
    """What another worker's recovery does while this one is frozen: a sweep over its
    own connection, from another thread (this one's loop is blocked)."""

    async def sweep(driver: Driver) -> int:
        return (await driver.recover_expired()).requeued

    return backend.blocking_elsewhere(sweep)


class Reclaimed(AsyncTask[int]):
    """Attempt 1 freezes its worker past its lease, then runs on alongside attempt 2
    (the same worker reserved the job again); with ``hang``, neither ends by itself."""

    config = {"max_attempts": 2}
    hang: bool = False
    backend: ClassVar[Backend | None] = None
    second_started: ClassVar[asyncio.Event]
    first_ended: ClassVar[float] = 0.0
    swept: ClassVar[int] = -1
    cancelled: ClassVar[list[int]] = []

    @classmethod
    def reset(cls, backend: Backend) -> None:
        cls.backend, cls.second_started = backend, asyncio.Event()
        cls.first_ended, cls.swept, cls.cancelled = 0.0, -1, []

    async def execute(self) -> int:
        cls = Reclaimed
        try:
            if self._attempts == 1:
                await self._lose_lease()
                await cls.second_started.wait()  # the same worker reserved it again
                await self.report_progress(0.1)  # superseded: must not overwrite attempt 2's
                if self.hang:
                    await asyncio.sleep(3600)
                cls.first_ended = time.monotonic()
                return 1
            await self.report_progress(0.5)
            cls.second_started.set()
            await asyncio.sleep(3600 if self.hang else LEASE * 3)  # lapses unless renewed
            return 2
        except asyncio.CancelledError:
            cls.cancelled.append(self._attempts)
            raise

    async def _lose_lease(self) -> None:
        assert Reclaimed.backend is not None
        # the worker's next claim, sent as this attempt started, reaches the broker
        # first: a claim stuck in the freeze would carry a clock read from before it
        await asyncio.sleep(0.2)
        time.sleep(LEASE * 1.5)  # frozen: nothing renews the lease meanwhile
        Reclaimed.swept = sweep_elsewhere(Reclaimed.backend)  # still frozen: to pending


async def wait_finished(driver: Driver, job_id: str, timeout: float) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await driver.get(job_id)
        assert job is not None, "the job vanished"
        if job.state.finished:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


async def start_reclaimed(
    backend: Backend, **options: float
) -> tuple[Driver, str, Worker, asyncio.Task[None]]:
    """Attempt 1 frozen past its lease and recovered, attempt 2 started by the same
    worker."""
    skip_without(backend, Inspection)  # it reads the job back, kept completed
    Reclaimed.reset(backend)
    driver = await backend.new_driver(keep_completed=True)
    job_id = await Dispatcher(driver, CONFIG).dispatch(Reclaimed(hang=bool(options.pop("hang", 0))))
    worker = Worker(
        driver, ["default"], config=CONFIG, concurrency=4, handle_signals=False, **options
    )
    running = asyncio.create_task(worker.start())
    await asyncio.wait_for(Reclaimed.second_started.wait(), 20)
    assert Reclaimed.swept == 1  # the freeze really cost attempt 1 its lease
    return driver, job_id, worker, running


async def test_attempt_one_ending_leaves_attempt_two_running(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    driver, job_id, worker, running = await start_reclaimed(backend)
    try:
        while not Reclaimed.first_ended:
            await asyncio.sleep(0.01)
        # two leases after attempt 1 ended, attempt 2 still runs and holds its lease
        await asyncio.sleep(LEASE * 2)
        held = await driver.get(job_id)
        assert held is not None
        assert (held.state, held.attempts, held.worker_id) == (
            JobState.ACTIVE,
            2,
            worker.worker_id,
        ), held
        assert held.lease_until is not None and held.lease_until > time.time()
        assert held.progress == 0.5
        assert worker.info().active == 1  # attempt 2 is still counted as running
        job = await wait_finished(driver, job_id, 20)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 20)
    assert (job.state, job.attempts, job.error) == (JobState.COMPLETED, 2, None), job.error
    # attempt 1's outcome is never sent: it could only be fenced out
    assert "attempt 1 ended after this worker started attempt 2" in caplog.text
    assert (worker._outcomes.settled, worker._outcomes.rejected) == (1, 0)
    assert worker.processed == 2


async def test_shutdown_releases_both_attempts_and_only_the_current_one_counts(
    backend: Backend,
) -> None:
    driver, job_id, worker, running = await start_reclaimed(backend, hang=1, shutdown_timeout=0.2)
    try:
        await asyncio.sleep(0.2)
        assert worker.info().active == 2
    finally:
        worker.stop()
        await asyncio.wait_for(running, 20)
    assert sorted(Reclaimed.cancelled) == [1, 2]  # neither attempt was left running
    job = await driver.get(job_id)
    assert job is not None
    # attempt 2 released (not counted); attempt 1's release never sent
    assert (job.state, job.attempts, job.worker_id) == (JobState.PENDING, 1, None), job
    assert (worker._outcomes.settled, worker._outcomes.rejected) == (1, 0)


def test_leases_of_two_attempts_of_one_job_are_kept_apart() -> None:
    leases = HeldLeases()
    leases.hold("job", 1, LEASE)
    leases.hold("job", 2, LEASE, timeout=30)
    assert leases.superseded("job", 1) and not leases.superseded("job", 2)
    leases.drop([("job", 1)])  # attempt 1 settled (fenced out)
    assert [(h.key, h.timeout) for h in leases.snapshot()] == [(("job", 2), 30)]
    assert not leases.superseded("job", 2)
    assert leases.refused([("job", 1)]) == []  # no longer held: nothing to lose
    leases.drop([("job", 2)])
    assert len(leases) == 0 and not leases.superseded("job", 2)


async def test_two_attempts_held_renew_the_one_lease_once(caplog: pytest.LogCaptureFixture) -> None:
    driver = MemoryDriver()
    await driver.connect()
    await driver.enqueue([Job(task="t", payload=b"")])
    (job,) = await driver.reserve(["default"], limit=1, worker_id="w", lease_seconds=LEASE)
    leases = HeldLeases()
    leases.hold(job.id, job.attempts, LEASE)
    leases.hold(job.id, job.attempts + 1, LEASE)  # as if reserved again after a lapse
    asked: list[list[str]] = []
    renew = driver.renew

    async def counted(worker_id: str, ids: Sequence[str], lease: float) -> list[str]:
        asked.append(list(ids))
        return await renew(worker_id, ids, lease)

    driver.renew = counted  # type: ignore[method-assign,assignment]
    for _ in range(2):  # refused twice would count as lost
        await renew_leases(driver, "w", leases, leases.snapshot(), LEASE)
    assert asked == [[job.id], [job.id]]
    assert "was lost" not in caplog.text
