"""Enqueue inside the caller's MySQL transaction: the job exists only if it commits.

Each test writes a business row and dispatches a job in one transaction, through a
bare aiomysql connection, a SQLAlchemy AsyncConnection or an AsyncSession.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiomysql
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher, set_dispatcher
from asynctasq.drivers.mysql import MySQLDriver
from asynctasq.drivers.mysql.dsn import MySQLSettings
from asynctasq.jobs import Job
from asynctasq.testing import drain
from tests.backends import Backend
from tests.conftest import only_backends
from tests.sample_tasks import Record, recorded


@pytest.fixture
async def orders(backend: Backend) -> MySQLDriver:
    """The queue's driver, with a business table next to the queue tables."""
    driver = await backend.new_driver()
    assert isinstance(driver, MySQLDriver)
    async with driver._db.connection() as session:
        await session.execute_sql("CREATE TABLE orders (id INT PRIMARY KEY) ENGINE = InnoDB")
    return driver


async def raw_connection(driver: MySQLDriver) -> Any:
    return await aiomysql.connect(autocommit=False, **driver.settings.connect_kwargs())


def sqlalchemy_url(driver: MySQLDriver) -> str:
    s = driver.settings
    return f"mysql+aiomysql://{s.user}:{s.password}@{s.host}:{s.port}/{s.database}"


async def order_ids(driver: MySQLDriver) -> list[int]:
    async with driver._db.connection() as session, session.conn.cursor() as cur:
        await cur.execute("SELECT id FROM orders ORDER BY id")
        return [row[0] for row in await cur.fetchall()]


async def processed(driver: MySQLDriver, log: str) -> list[str]:
    """Run a burst worker on the queue, then what the jobs recorded."""
    await drain(driver, ["default"], config=Config(driver="mysql"))
    return recorded(log)


@only_backends("mysql")
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_aiomysql_connection(orders: MySQLDriver, tmp_path: Path, outcome: str) -> None:
    log = str(tmp_path / "effects.log")
    dispatcher = Dispatcher(orders, Config(driver="mysql"))
    conn = await raw_connection(orders)
    try:
        async with conn.cursor() as cur:
            await cur.execute("INSERT INTO orders (id) VALUES (1)")
        job_id = await dispatcher.dispatch(Record(key="order-1", log=log), connection=conn)
        # not visible outside the transaction yet
        assert await orders.get(job_id) is None
        assert await orders.reserve(["default"], limit=5, worker_id="w", lease_seconds=5) == []
        await (conn.commit() if outcome == "commit" else conn.rollback())
    finally:
        conn.close()
    if outcome == "commit":
        assert await order_ids(orders) == [1]
        assert await processed(orders, log) == ["order-1"]
    else:
        assert await order_ids(orders) == []
        assert await orders.get(job_id) is None
        assert await processed(orders, log) == []
    assert (await orders.stats("default")).depth == 0


@only_backends("mysql")
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_sqlalchemy_async_session(orders: MySQLDriver, tmp_path: Path, outcome: str) -> None:
    log = str(tmp_path / "effects.log")
    set_dispatcher(Dispatcher(orders, Config(driver="mysql")))  # what task.dispatch() uses
    engine = create_async_engine(sqlalchemy_url(orders))
    try:
        async with AsyncSession(engine) as session:
            await session.execute(text("INSERT INTO orders (id) VALUES (7)"))
            await Record(key="order-7", log=log).dispatch(connection=session)
            await (session.commit() if outcome == "commit" else session.rollback())
    finally:
        await engine.dispose()
        set_dispatcher(None)
    expected = ["order-7"] if outcome == "commit" else []
    assert await order_ids(orders) == ([7] if outcome == "commit" else [])
    assert await processed(orders, log) == expected


@only_backends("mysql")
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_sqlalchemy_async_connection(orders: MySQLDriver, outcome: str) -> None:
    engine = create_async_engine(sqlalchemy_url(orders))
    jobs = [Job(task="tests.noop", payload=bytes([i])) for i in range(3)]
    try:
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO orders (id) VALUES (3)"))
            assert await orders.enqueue(jobs, connection=conn) == [j.id for j in jobs]
            await (conn.commit() if outcome == "commit" else conn.rollback())
    finally:
        await engine.dispose()
    depth = (await orders.stats("default")).depth
    assert depth == (3 if outcome == "commit" else 0)
    if outcome == "commit":
        got = await orders.reserve(["default"], limit=5, worker_id="w", lease_seconds=5)
        assert sorted(j.payload for j in got) == [b"\x00", b"\x01", b"\x02"]


@only_backends("mysql")
async def test_unique_key_is_held_by_an_uncommitted_job_until_rollback(
    orders: MySQLDriver,
) -> None:
    conn = await raw_connection(orders)
    try:
        first = Job(task="t", payload=b"", unique_key="nightly")
        assert await orders.enqueue([first], connection=conn) == [first.id]
        await conn.rollback()
    finally:
        conn.close()
    second = Job(task="t", payload=b"", unique_key="nightly")
    assert await orders.enqueue([second]) == [second.id]


@only_backends("mysql")
async def test_a_connection_to_another_database_is_refused(
    orders: MySQLDriver, backend: Backend
) -> None:
    other = MySQLSettings.from_dsn(orders.settings.where).connect_kwargs()
    other.update(db="mysql", password=orders.settings.password)
    conn = await aiomysql.connect(**other)
    try:
        with pytest.raises(ValueError, match="queue lives in"):
            await orders.enqueue([Job(task="t", payload=b"")], connection=conn)
    finally:
        conn.close()


@only_backends("mysql")
async def test_an_unsupported_connection_is_refused_clearly(orders: MySQLDriver) -> None:
    with pytest.raises(TypeError, match="aiomysql connection, or a SQLAlchemy"):
        await orders.enqueue([Job(task="t", payload=b"")], connection=object())


@only_backends("mysql")
async def test_a_session_whose_first_statement_is_the_job_still_rolls_it_back(
    orders: MySQLDriver,
) -> None:
    engine = create_async_engine(sqlalchemy_url(orders))
    job = Job(task="t", payload=b"")
    try:
        async with AsyncSession(engine) as session:
            assert await orders.enqueue([job], connection=session) == [job.id]
            await session.rollback()
    finally:
        await engine.dispose()
    assert await orders.get(job.id) is None


@only_backends("mysql")
async def test_new_queues_are_registered_outside_the_transaction(orders: MySQLDriver) -> None:
    conn = await raw_connection(orders)
    try:
        jobs = [Job(task="t", payload=b"", queue=q) for q in ("mail", "sms", "mail")]
        await orders.enqueue(jobs, connection=conn)
        await conn.rollback()
    finally:
        conn.close()
    assert {"mail", "sms"} <= set(await orders.queues())  # listed, holding no job
    assert (await orders.stats("mail")).depth == 0
