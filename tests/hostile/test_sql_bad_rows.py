"""Damaged rows never break a claim, a listing, ``get``, stats or recovery (defect 5 of
the hostile-input issue: on SQLite a payload stored as TEXT made every reserve fail).

Every corruption a broker's storage can hold (tests/hostile/corrupt_<broker>.py) is
applied to its own job, among good jobs; then one claim takes them all. The damage a
driver can see (a value of the wrong type, a state nobody knows...) is dead-lettered
with a reason naming the field, in the claim itself (or, for a record no claim can
reach, by the next recover_expired); the damage only a worker can see (bytes that do
not decode, an unknown task) is handed out, for the worker to dead-letter.
"""

from __future__ import annotations

import math
import time

import asyncpg
import pytest

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.drivers.mysql.database import error_code
from asynctasq.drivers.postgres import PostgresDriver
from asynctasq.drivers.postgres.sql import SchemaSQL
from asynctasq.jobs import Completed, Job, JobState
from tests.backends import Backend
from tests.conftest import only_backends
from tests.hostile.corruption import Corruption, corruptions_for
from tests.hostile.sql_access import execute, fetch
from tests.sample_tasks import Record

SQL = ("sqlite", "postgres", "mysql")
#: what only a worker finds, decoding the job (see damaged_payloads.py)
WORKER_FINDS = ("undecodable", "unknown task", "arguments no longer match")


async def _victims(
    backend: Backend, driver: Driver
) -> tuple[list[tuple[Job, Corruption]], list[str]]:
    """One job per corruption, each damaged, between good jobs; the good jobs' ids."""
    dispatcher = Dispatcher(driver, Config(driver="memory"))
    victims, good = [], []
    for corruption in corruptions_for(backend):
        good += await dispatcher.dispatch_many([Record(key="good", log="/dev/null")])
        (job_id,) = await dispatcher.dispatch_many([Record(key="victim", log="/dev/null")])
        job = await driver.get(job_id)
        assert job is not None
        await corruption.apply(backend, job)
        victims.append((job, corruption))
    return victims, good


async def _every_read_works(driver: Driver) -> None:
    await driver.stats("default")
    await driver.queues()
    for state in (None, *JobState):
        for job in await driver.list_jobs("default", state, limit=1000):
            assert isinstance(job.state, JobState) and isinstance(job.payload, bytes)
            assert await driver.get(job.id) is not None


@only_backends(*SQL)
async def test_one_claim_serves_good_jobs_and_dead_letters_damaged_records(
    backend: Backend,
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    victims, good = await _victims(backend, driver)
    await _every_read_works(driver)  # before any claim: reads show damaged rows as they are

    claimed = await driver.reserve(["default"], limit=1000, worker_id="w", lease_seconds=30)
    await driver.recover_expired()  # the records no claim can reach
    await _every_read_works(driver)

    claimed_ids = {job.id for job in claimed}
    assert set(good) <= claimed_ids
    problems = []
    for job, corruption in victims:
        stored = await driver.get(job.id)
        assert stored is not None
        if corruption.reason.startswith(WORKER_FINDS):
            if job.id not in claimed_ids:
                problems.append(f"{corruption.name}: not handed to a worker ({stored.state})")
        elif stored.state is not JobState.FAILED or job.id in claimed_ids:
            problems.append(f"{corruption.name}: {stored.state}, claimed: {job.id in claimed_ids}")
        elif not (stored.error or "").startswith("CorruptRecord") or (
            corruption.reason.lower() not in (stored.error or "").lower()
        ):
            problems.append(f"{corruption.name}: reason {stored.error!r}")
    assert not problems, "\n".join(problems)
    # what was claimed can be settled; the damaged rows hold up nothing
    assert all(await driver.settle([Completed(j.id, "w", j.attempts) for j in claimed]))
    stats = await driver.stats("default")
    assert stats.processing == stats.depth == 0


@only_backends("postgres")
async def test_postgres_refuses_rows_no_claim_could_reach(backend: Backend) -> None:
    driver = await backend.new_driver()
    (job_id,) = await driver.enqueue([Job(task="t", payload=b"")])
    for assignment in (
        "run_at = 'NaN'",
        "run_at = 'Infinity'",
        "lease_until = '-Infinity'",
        "progress = 'NaN'",
        "state = 'bogus'",
        "state = 'active', lease_until = NULL",
    ):
        with pytest.raises(asyncpg.CheckViolationError):
            await execute(backend, f"UPDATE {{jobs}} SET {assignment} WHERE id = ?", job_id)


@only_backends("mysql")
async def test_mysql_refuses_rows_no_claim_could_reach(backend: Backend) -> None:
    driver = await backend.new_driver()
    (job_id,) = await driver.enqueue([Job(task="t", payload=b"")])
    for assignment in ("state = 'bogus'", "state = 'active', lease_until = NULL"):
        with pytest.raises(Exception) as refused:
            await execute(backend, f"UPDATE {{jobs}} SET {assignment} WHERE id = ?", job_id)
        assert error_code(refused.value) in (3819, 4025), refused.value  # CHECK failed


@only_backends("postgres")
async def test_postgres_migration_dead_letters_rows_already_damaged(backend: Backend) -> None:
    sql = SchemaSQL(backend.schema)  # type: ignore[attr-defined]
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:  # a schema as 0.1.0 left it, with rows its constraints would now refuse
        await con.execute(sql["bootstrap"])
        await con.execute(sql.migrations[0].sql)
        await con.execute(sql["record_migration"], 1, sql.migrations[0].name, time.time())
        insert = (
            f'INSERT INTO "{backend.schema}".jobs '  # type: ignore[attr-defined]
            "(id, task, queue, payload, run_at, created_at, state, lease_until, progress) "
            "VALUES ($1, 't', 'default', '', $2, 0, $3, $4, $5)"
        )
        now = time.time()
        await con.execute(insert, "never-due", math.nan, "pending", None, None)
        await con.execute(insert, "never-lapses", now, "active", math.inf, None)
        await con.execute(insert, "no-lease", now, "active", None, None)
        await con.execute(insert, "done-nan", now, "completed", None, math.nan)
        await con.execute(insert, "sound", now, "pending", None, None)
    finally:
        await con.close()
    driver = PostgresDriver(backend.dsn, schema=backend.schema)  # type: ignore[attr-defined]
    await driver.connect()  # applies 0002
    backend.drivers.append(driver)
    for job_id in ("never-due", "never-lapses", "no-lease"):
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.FAILED
        assert (job.error or "").startswith("CorruptRecord") and "migration 0002" in job.error  # type: ignore[operator]
        assert math.isfinite(job.run_at) and job.lease_until is None
    done = await driver.get("done-nan")
    assert done is not None and (done.state, done.progress) == (JobState.COMPLETED, None)
    sound = await driver.get("sound")
    assert sound is not None and sound.state is JobState.PENDING


@only_backends("mysql")
async def test_mysql_migration_dead_letters_rows_already_damaged(backend: Backend) -> None:
    from asynctasq.drivers.mysql.statements import MIGRATIONS, Q
    from asynctasq.drivers.sql.loader import split_statements
    from tests.backends_mysql import admin_execute

    db = f"`{backend.database}`"  # type: ignore[attr-defined]
    first = MIGRATIONS[0]
    await admin_execute(
        f"USE {db}",
        *split_statements(first.sql),
        Q["create_migrations_table"].render({}, str),
        f"INSERT INTO asynctasq_migrations VALUES (1, '{first.name}', 0)",
        "INSERT INTO asynctasq_jobs (id, task, queue, payload, run_at, created_at, state) "
        "VALUES ('bogus-state', 't', 'default', '', 0, 0, 'bogus'), "
        "('sound', 't', 'default', '', 0, 0, 'pending')",
        "INSERT INTO asynctasq_jobs (id, task, queue, payload, run_at, created_at, state) "
        "VALUES ('no-lease', 't', 'default', '', 0, 0, 'active')",
    )
    driver = await backend.new_driver()  # applies 0002
    bogus = await driver.get("bogus-state")
    assert bogus is not None and bogus.state is JobState.FAILED
    assert "state 'bogus'" in (bogus.error or "")
    lapsed = await driver.get("no-lease")
    assert lapsed is not None and lapsed.lease_until == 0  # lapsed: recovery takes it
    await driver.recover_expired()
    recovered = await driver.get("no-lease")
    assert recovered is not None and recovered.state is JobState.PENDING
    sound = await driver.get("sound")
    assert sound is not None and sound.state is JobState.PENDING
    rows = await fetch(
        backend, "SELECT COUNT(*) FROM {jobs} WHERE state NOT IN ('failed', 'pending')"
    )
    assert rows == [(0,)]
