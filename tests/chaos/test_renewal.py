"""Lease renewal in process: the renewal thread keeps leases through a blocked event
loop (up to each job's timeout), and renewal on the loop holds while CPU-heavy
SyncTasks compete for the GIL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from asynctasq import Config, JobState
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.renewal import HeldLeases, RenewalThread
from asynctasq.drivers.sqlite import SQLiteDriver
from asynctasq.jobs import Job
from asynctasq.testing import drain
from tests.chaos.tasks import BurnCpu
from tests.sample_tasks import recorded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

LEASE = 0.6


async def test_the_renewal_thread_keeps_leases_while_the_loop_is_blocked(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    driver = SQLiteDriver(path)
    await driver.connect()
    await driver.enqueue([Job(task="t", payload=b""), Job(task="t", payload=b"", timeout=0.5)])
    unbounded, bounded = await driver.reserve(
        ["default"], limit=2, worker_id="w", lease_seconds=LEASE
    )
    leases = HeldLeases()
    leases.hold(unbounded.id, unbounded.attempts, LEASE, None)
    leases.hold(bounded.id, bounded.attempts, LEASE, bounded.timeout)
    renewal = RenewalThread(
        lambda: SQLiteDriver(path), worker_id="w", leases=leases, lease_seconds=LEASE, tick=0.1
    )
    renewal.start()
    try:
        time.sleep(2.5)  # blocks this loop on purpose: renewal must not need it
        now = time.time()
        kept, lapsed = await driver.get(unbounded.id), await driver.get(bounded.id)
    finally:
        await renewal.stop()
        await driver.disconnect()
    assert renewal.rounds >= 5
    # no timeout: kept as long as the worker lives
    assert kept is not None and kept.lease_until is not None and kept.lease_until > now
    # blocked for longer than its timeout: let go, so another worker can take it over
    assert lapsed is not None and lapsed.lease_until is not None and lapsed.lease_until < now


async def test_renewal_on_the_loop_holds_while_sync_tasks_burn_cpu(tmp_path: Path) -> None:
    driver = SQLiteDriver(tmp_path / "q.db", keep_completed=True)
    await driver.connect()
    log = str(tmp_path / "effects.log")
    config = Config(lease_seconds=LEASE, default_max_retries=3)
    ids = await Dispatcher(driver, config).dispatch_many(
        BurnCpu(key=f"cpu{i}", log=log, seconds=2) for i in range(3)
    )
    # handed a driver, the worker renews on its loop; its own recovery would
    # take back any job whose renewal came late
    worker = await drain(driver, config=config, concurrency=3)
    assert worker._renewal is None
    for job_id in ids:
        job = await driver.get(job_id)
        assert job is not None and (job.state, job.attempts) == (JobState.COMPLETED, 1)
    assert worker._outcomes.rejected == 0
    assert sorted(recorded(log)) == ["cpu0", "cpu1", "cpu2"]
    await driver.disconnect()


def test_a_lease_counts_as_lost_only_when_refused_twice_while_held() -> None:
    leases = HeldLeases()
    settled, taken_over = ("settled-meanwhile", 1), ("taken-over", 1)
    leases.hold(*settled, LEASE)
    leases.hold(*taken_over, LEASE)
    # the first refusal may be a job whose settle answer is still on its way back
    assert leases.refused([settled, taken_over]) == []
    leases.drop([settled])  # ...and so it was
    assert leases.refused([settled, taken_over]) == [taken_over]
    assert leases.refused([taken_over]) == []  # reported once
