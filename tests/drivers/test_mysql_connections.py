"""The MySQL driver's connections: settings, errors that keep secrets, surviving a
KILL of every session, and the adaptive polling of idle reserves."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import DriverError
from asynctasq.drivers.mysql import MySQLDriver
from asynctasq.drivers.mysql.dsn import MySQLSettings
from asynctasq.drivers.mysql.session import Session
from asynctasq.drivers.mysql.sqltext import Statement
from asynctasq.drivers.mysql.statements import Q
from asynctasq.jobs import Completed, Job
from tests.backends import Backend
from tests.backends_mysql import SERVER_DSN, dsn_for, kill_connections
from tests.conftest import only_backends

SECRET = "s3cret-Pa55"


def test_the_dsn_becomes_connection_settings() -> None:
    s = MySQLSettings.from_dsn(f"mysql://app:{SECRET}%40x@db.internal:3307/jobs?ssl=true")
    assert (s.host, s.port, s.user, s.password, s.database) == (
        "db.internal",
        3307,
        "app",
        f"{SECRET}@x",
        "jobs",
    )
    assert s.ssl and SECRET not in s.where and SECRET not in repr(s)
    socket = MySQLSettings.from_dsn("mariadb://app@localhost/jobs?unix_socket=/run/my.sock")
    assert socket.connect_kwargs()["unix_socket"] == "/run/my.sock"


@pytest.mark.parametrize(
    ("dsn", "why"),
    [
        (f"postgresql://u:{SECRET}@h/db", "scheme"),
        (f"mysql://u:{SECRET}@h:3306", "name the database"),
        (f"mysql://u:{SECRET}@h:3306/db?pool=3", "unknown option"),
        (f"mysql://u:{SECRET}@h:port/db", "port"),
    ],
)
def test_a_bad_dsn_is_refused_without_showing_the_password(dsn: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        MySQLSettings.from_dsn(dsn)
    assert SECRET not in str(caught.value)
    assert "ASYNCTASQ_MYSQL_DSN" in str(caught.value)


def test_the_factory_builds_the_driver_from_settings() -> None:
    config = Config(
        driver="mysql",
        mysql_dsn=f"mysql://app:{SECRET}@127.0.0.1:3306/jobs",
        mysql_max_pool_size=3,
        keep_completed_tasks=True,
        mysql_poll_interval=0.02,
    )
    driver = DriverFactory.create_from_config(config)
    assert isinstance(driver, MySQLDriver)
    assert driver.keep_completed and driver._db.max_size == 3 and driver._poll.ceiling == 0.02
    assert SECRET not in repr(driver) and "127.0.0.1:3306/jobs" in repr(driver)


async def test_a_wrong_password_is_reported_without_it() -> None:
    settings = MySQLSettings.from_dsn(SERVER_DSN)
    driver = MySQLDriver(
        f"mysql://{settings.user}:{SECRET}@{settings.host}:{settings.port}/{settings.database}"
    )
    with pytest.raises(DriverError) as caught:
        await driver.connect()
    assert "Access denied" in str(caught.value) and SECRET not in str(caught.value)


async def test_an_unreachable_server_is_reported_with_its_address() -> None:
    driver = MySQLDriver(f"mysql://app:{SECRET}@127.0.0.1:1/jobs?connect_timeout=2")
    with pytest.raises(DriverError, match=r"127\.0\.0\.1:1\b") as caught:
        await driver.connect()
    assert SECRET not in str(caught.value)


async def test_a_missing_database_says_how_to_create_it() -> None:
    driver = MySQLDriver(dsn_for("asynctasq_no_such_database"))
    with pytest.raises(DriverError, match="CREATE DATABASE"):
        await driver.connect()


@only_backends("mysql")
async def test_hostile_text_is_stored_as_written(backend: Backend) -> None:
    driver = await backend.new_driver()
    nasty = "x'); DROP TABLE asynctasq_jobs; -- \\' \" % %s :id \u00e9\u4e2d\U0001f600"
    job = Job(task=nasty[:150], payload=b"\x00'\\\xff", unique_key=nasty)
    await driver.enqueue([job])
    got = await driver.get(job.id)
    assert got is not None
    assert (got.task, got.payload, got.unique_key) == (job.task, job.payload, nasty)
    (claimed,) = await driver.reserve(["default"], limit=1, worker_id=nasty, lease_seconds=5)
    assert await driver.fail(claimed, nasty)
    failed = await driver.get(job.id)
    assert failed is not None and failed.error == nasty


@only_backends("mysql")
async def test_every_call_survives_its_connections_being_killed(backend: Backend) -> None:
    driver = await backend.new_driver(max_pool_size=6)
    stop = asyncio.Event()
    errors: list[BaseException] = []
    enqueued: list[str] = []
    completed: set[str] = set()  # sent to settle: applied, or applied by a lost reply

    async def churn(worker: str) -> None:
        while not stop.is_set():
            try:
                jobs = [Job(task="t", payload=b"x") for _ in range(10)]
                enqueued.extend(await driver.enqueue(jobs))
                got = await driver.reserve(["default"], limit=10, worker_id=worker, lease_seconds=2)
                outcomes = [Completed(j.id, worker, j.attempts) for j in got]
                completed.update(j.id for j in got)
                await driver.settle(outcomes)
            except Exception as exc:  # a failure reaching the caller is what we test
                errors.append(exc)

    tasks = [asyncio.create_task(churn(f"w{i}")) for i in range(4)]
    killed = 0
    for _ in range(8):
        await asyncio.sleep(0.15)
        killed += await kill_connections(backend.database)  # type: ignore[attr-defined]
    stop.set()
    await asyncio.gather(*tasks)
    assert killed >= 8 and errors == []
    assert len(set(enqueued)) == len(enqueued)
    # nothing lost: a job is either still queued (pending, or leased by a claim whose
    # answer was lost) or it was completed
    left = {j.id for j in await driver.list_jobs("default", limit=100_000)}
    assert set(enqueued) - completed <= left
    assert left <= set(enqueued)


@only_backends("mysql")
async def test_an_idle_reserve_backs_off_but_still_wakes_within_its_poll(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = await backend.new_driver(poll_interval=0.05)
    producer = await backend.new_driver()
    probes = {"n": 0}
    values = Session.values

    async def counting(self: Session, statement: Statement, **params: Any) -> Any:
        probes["n"] += statement is Q["next_due"]
        return await values(self, statement, **params)

    monkeypatch.setattr(Session, "values", counting)
    started = time.monotonic()
    assert (
        await consumer.reserve(["default"], limit=1, worker_id="w", lease_seconds=5, wait=1.0) == []
    )
    idle = time.monotonic() - started
    # backing off from 5 ms to 50 ms: about 25 reads a second, not hundreds
    assert 5 <= probes["n"] <= 40 * idle, probes
    waiter = asyncio.create_task(
        consumer.reserve(["default"], limit=1, worker_id="w", lease_seconds=5, wait=10.0)
    )
    await asyncio.sleep(0.5)  # long idle: the poll is at its ceiling
    job = Job(task="t", payload=b"")
    enqueued = time.monotonic()
    await producer.enqueue([job])
    got = await asyncio.wait_for(waiter, 5)
    assert [j.id for j in got] == [job.id]
    assert time.monotonic() - enqueued < 0.5  # one poll (50 ms) plus a loaded machine
