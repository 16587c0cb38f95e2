"""A batch the broker refuses for a reason in the data is split down to the item at
fault; the rest are written as if it had never been there, and nothing loops forever.

Sanitising (sanitize.py) keeps the refusals we know of from happening, so these tests
add refusals of their own to the real tables, as a DBA's constraint or trigger would:
an error text containing BOOM, one containing 'é', any end at all for a doomed job.
A refusal that is not the data's fault (a lock the broker cannot get) fails the whole
call instead, for the caller to retry the batch as it is.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import aiomysql
import asyncpg
import pytest

from asynctasq.drivers.base import Driver
from asynctasq.drivers.mysql.database import data_error as mysql_data_error
from asynctasq.drivers.postgres import PostgresDriver
from asynctasq.drivers.postgres.driver import _data_error as postgres_data_error
from asynctasq.drivers.sqlite import SQLiteDriver
from asynctasq.drivers.sqlite.driver import _data_error as sqlite_data_error
from asynctasq.jobs import Completed, Failed, Job, JobState, Outcome, Retried
from tests.backends import Backend
from tests.backends_postgres import dsn_with
from tests.conftest import only_backends
from tests.hostile.sql_access import execute

SQL = ("sqlite", "postgres", "mysql")
W = "isolating-worker"


def _refusal(backend: Backend, name: str, refused: str) -> list[str]:
    """Statements making the jobs table refuse rows where ``refused`` (SQL, on the row
    as it would be written) holds."""
    if backend.name == "sqlite":
        new = refused.replace("error", "NEW.error").replace("state", "NEW.state")
        new = new.replace("id =", "NEW.id =")
        return [
            f"CREATE TRIGGER {name} BEFORE UPDATE ON asynctasq_jobs WHEN {new} "
            f"BEGIN SELECT RAISE(ABORT, '{name}'); END"
        ]
    return [f"ALTER TABLE {{jobs}} ADD CONSTRAINT {name} CHECK (NOT ({refused}))"]


async def _refuse(backend: Backend, name: str, refused: str) -> None:
    for statement in _refusal(backend, name, refused):
        await execute(backend, statement)


def _contains(backend: Backend, text: str) -> str:
    if backend.name == "postgres":
        return f"coalesce(position('{text}' in error), 0) > 0"
    if backend.name == "mysql":
        return f"coalesce(locate('{text}', error), 0) > 0"
    return f"coalesce(instr(error, '{text}'), 0) > 0"


async def _claimed(driver: Driver, count: int) -> list[Job]:
    await driver.enqueue([Job(task="t", payload=b"p", max_attempts=3) for _ in range(count)])
    jobs = await driver.reserve(["default"], limit=count, worker_id=W, lease_seconds=60)
    assert len(jobs) == count
    return jobs


async def _state(driver: Driver, job: Job) -> tuple[JobState, str]:
    stored = await driver.get(job.id)
    assert stored is not None
    return stored.state, stored.error or ""


@only_backends(*SQL)
async def test_a_refused_outcome_is_isolated_and_stored_as_best_it_can_be(
    backend: Backend,
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    jobs = await _claimed(driver, 40)
    boom_fail, boom_retry, accent, doomed = jobs[3], jobs[17], jobs[25], jobs[38]
    await _refuse(backend, "test_no_boom", _contains(backend, "BOOM"))
    await _refuse(backend, "test_no_accent", _contains(backend, "\u00e9"))
    await _refuse(backend, "test_doomed", f"id = '{doomed.id}' AND state <> 'active'")

    outcomes: list[Outcome] = [Completed(j.id, W, j.attempts, result=b"ok") for j in jobs]
    outcomes[3] = Failed(boom_fail.id, W, 1, error="ValueError: BOOM")
    outcomes[17] = Retried(boom_retry.id, W, 1, run_at=time.time(), error="BOOM again")
    outcomes[25] = Failed(accent.id, W, 1, error="ValueError: caf\u00e9 closed")
    accepted = await asyncio.wait_for(driver.settle(outcomes), 30)

    # every outcome but the doomed job's was stored, one way or another
    assert accepted == [job is not doomed for job in jobs]
    for job in jobs:
        if job not in (boom_fail, boom_retry, accent, doomed):
            assert await _state(driver, job) == (JobState.COMPLETED, "")
    for job in (boom_fail, boom_retry):  # refused even as plain text: failed, saying why
        state, error = await _state(driver, job)
        assert state is JobState.FAILED and error.startswith("OutcomeNotStored: the job's")
        assert "could not be stored" in error and "BOOM" not in error
    # refused as written, stored as plain text
    assert await _state(driver, accent) == (JobState.FAILED, "ValueError: caf\\xe9 closed")
    # refused whatever it says: given up, still held (its lease will lapse)
    assert (await _state(driver, doomed))[0] is JobState.ACTIVE
    assert await driver.renew(W, [j.id for j in jobs], 60) == [doomed.id]


@only_backends(*SQL)
async def test_a_renewal_the_broker_refuses_only_loses_that_lease(backend: Backend) -> None:
    driver = await backend.new_driver()
    jobs = await _claimed(driver, 9)
    doomed = jobs[4]
    if backend.name == "sqlite":
        await execute(
            backend,
            "CREATE TRIGGER test_no_renewal BEFORE UPDATE OF lease_until ON asynctasq_jobs "
            f"WHEN NEW.id = '{doomed.id}' BEGIN SELECT RAISE(ABORT, 'no renewal'); END",
        )
    else:
        await _refuse(backend, "test_no_renewal", f"id = '{doomed.id}' AND lease_until > 2e9")
    held = await driver.renew(W, [j.id for j in jobs], 2e9)  # a lease far ahead
    assert held == [j.id for j in jobs if j is not doomed]


@only_backends("sqlite")
async def test_sqlite_a_locked_file_fails_the_whole_call(backend: Backend) -> None:
    driver = await backend.new_driver()
    (job,) = await _claimed(driver, 1)
    impatient = SQLiteDriver(backend.path, busy_timeout=0.2)  # type: ignore[attr-defined]
    await impatient.connect()
    backend.drivers.append(impatient)
    other = sqlite3.connect(backend.path, isolation_level=None)  # type: ignore[attr-defined]
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await impatient.fail(job, "ValueError: BOOM")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await impatient.fail(job, "ValueError: BOOM")  # retried later, stored as it was
    assert await _state(driver, job) == (JobState.FAILED, "ValueError: BOOM")


@only_backends("postgres")
async def test_postgres_a_lock_it_cannot_get_fails_the_whole_call(backend: Backend) -> None:
    driver = await backend.new_driver()
    (job,) = await _claimed(driver, 1)
    impatient = PostgresDriver(
        dsn_with(backend.dsn, lock_timeout="200"),  # type: ignore[attr-defined]
        schema=backend.schema,  # type: ignore[attr-defined]
    )
    await impatient.connect()
    backend.drivers.append(impatient)
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        async with con.transaction():
            table = f'"{backend.schema}".jobs'  # type: ignore[attr-defined]
            await con.execute(f"SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE", job.id)
            with pytest.raises(asyncpg.LockNotAvailableError):
                await impatient.fail(job, "ValueError: BOOM")
    finally:
        await con.close()
    assert await impatient.fail(job, "ValueError: BOOM")
    assert await _state(driver, job) == (JobState.FAILED, "ValueError: BOOM")


def test_data_errors_are_told_from_connection_errors() -> None:
    data = [
        sqlite_data_error(sqlite3.IntegrityError("CHECK constraint failed")),
        sqlite_data_error(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates")),
        postgres_data_error(asyncpg.CharacterNotInRepertoireError("0x00")),
        postgres_data_error(asyncpg.CheckViolationError("check")),
        postgres_data_error(asyncpg.ProgramLimitExceededError("index row too big")),
        mysql_data_error(aiomysql.DataError(1406, "Data too long")),
        mysql_data_error(aiomysql.OperationalError(1366, "Incorrect string value")),
        mysql_data_error(aiomysql.OperationalError(4025, "CONSTRAINT failed")),
        mysql_data_error(ValueError("nan cannot be stored")),
    ]
    assert all(data)
    broker_trouble = [
        sqlite_data_error(sqlite3.OperationalError("database is locked")),
        sqlite_data_error(sqlite3.OperationalError("disk I/O error")),
        postgres_data_error(asyncpg.ConnectionDoesNotExistError("closed")),
        postgres_data_error(asyncpg.LockNotAvailableError("lock")),
        postgres_data_error(asyncpg.UndefinedTableError("no table")),
        postgres_data_error(ConnectionResetError()),
        mysql_data_error(aiomysql.OperationalError(2013, "Lost connection")),
        mysql_data_error(aiomysql.OperationalError(1213, "Deadlock")),
        mysql_data_error(aiomysql.ProgrammingError(1146, "no such table")),
        mysql_data_error(ConnectionResetError()),
    ]
    assert not any(broker_trouble)
