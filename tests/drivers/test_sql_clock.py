"""The SQL drivers (and MongoDB's) read every time from their clock: a ManualClock
moves the SQL too.

No statement asks the database for the time (``NOW()``): due times, leases, renewals,
recovery, finished jobs and worker heartbeats all use the time the client sends, so a
test moves time instead of sleeping, and a server whose clock differs from the
workers' changes nothing.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

from asynctasq.clock import ManualClock
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, WorkerRegistry
from asynctasq.jobs import Job, JobState, WorkerInfo
from tests.backends import Backend
from tests.conftest import only_backends

SQL = ("sqlite", "postgres", "mysql")
#: far from the real time, so a statement reading the server's clock would show
START = 1_500_000_000.0
WORKER = "worker-1"
_SERVER_TIME = re.compile(
    r"\b(now|sysdate|unix_timestamp|utc_timestamp|clock_timestamp|statement_timestamp|"
    r"transaction_timestamp|julianday|strftime|datetime|unixepoch)\s*\(|"
    r"(?<![:\w])(current_timestamp|current_time|current_date|localtimestamp)\b",
    re.IGNORECASE,
)


def _job(**fields: object) -> Job:
    fields.setdefault("run_at", START)
    return Job(task="tests.noop", payload=b"\x80", created_at=START, **fields)  # type: ignore[arg-type]


async def _manual(backend: Backend) -> tuple[Driver, ManualClock]:
    clock = ManualClock(START)
    driver = await backend.new_driver(clock=clock)
    assert driver.clock is clock
    return driver, clock


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
def test_no_statement_reads_the_servers_clock(dialect: str) -> None:
    folder = resources.files("asynctasq.drivers.sql").joinpath(dialect)
    files = [folder.joinpath("queries.sql"), folder.joinpath("schema.sql")]
    files += [f for f in folder.joinpath("migrations").iterdir() if f.name.endswith(".sql")]
    for file in files:
        code = "\n".join(
            line
            for line in file.read_text("utf-8").splitlines()
            if not line.lstrip().startswith("--")
        )
        assert not _SERVER_TIME.search(code), f"{dialect}/{file.name} reads the server's clock"


@only_backends(*SQL, "mongodb")
async def test_a_delayed_job_comes_due_when_the_clock_says(backend: Backend) -> None:
    driver, clock = await _manual(backend)
    job = _job(run_at=START + 3600)
    await driver.enqueue([job])
    claim = {"limit": 5, "worker_id": WORKER, "lease_seconds": 30.0}
    assert await driver.claim(["default"], **claim) == []
    assert isinstance(driver, Inspection)
    assert [j.state for j in await driver.list_jobs("default")] == [JobState.SCHEDULED]
    assert (await driver.stats("default")).scheduled == 1
    clock.advance(3599)
    assert await driver.claim(["default"], **claim) == []
    clock.advance(1)
    (got,) = await driver.claim(["default"], **claim)
    assert got.id == job.id and got.lease_until == START + 3600 + 30


@only_backends(*SQL, "mongodb")
async def test_a_lease_lapses_when_the_clock_passes_it(backend: Backend) -> None:
    driver, clock = await _manual(backend)
    await driver.enqueue([_job(max_attempts=3)])
    (job,) = await driver.claim(["default"], limit=1, worker_id=WORKER, lease_seconds=10)
    assert job.lease_until == START + 10
    clock.advance(8)
    assert await driver.renew(WORKER, [job.id], 10) == [job.id]
    clock.advance(9)  # 17: within the renewed lease (18)
    assert (await driver.recover_expired()).requeued == 0
    clock.advance(2)  # 19: lapsed
    assert (await driver.recover_expired()).requeued == 1
    (again,) = await driver.claim(["default"], limit=1, worker_id=WORKER, lease_seconds=10)
    assert (again.attempts, again.run_at, again.lease_until) == (2, START + 19, START + 29)


@only_backends(*SQL, "mongodb")
async def test_a_last_attempt_that_lapses_is_failed_at_the_clocks_time(backend: Backend) -> None:
    driver, clock = await _manual(backend)
    await driver.enqueue([_job(max_attempts=1)])
    (job,) = await driver.claim(["default"], limit=1, worker_id=WORKER, lease_seconds=10)
    clock.advance(11)
    recovery = await driver.recover_expired()
    assert recovery.requeued == 0 and [j.id for j in recovery.dead] == [job.id]
    assert isinstance(driver, Inspection)
    got = await driver.get(job.id)
    assert got is not None and got.state is JobState.FAILED and got.finished_at == START + 11


@only_backends(*SQL, "mongodb")
async def test_heartbeats_expire_by_the_clock(backend: Backend) -> None:
    driver, clock = await _manual(backend)
    assert isinstance(driver, WorkerRegistry)
    info = WorkerInfo(WORKER, "host", 1, ("default",), 4, 0, START, START)
    await driver.heartbeat(info, ttl=30)
    (seen,) = await driver.list_workers()
    assert seen.last_seen == START
    clock.advance(31)
    assert await driver.list_workers() == []
