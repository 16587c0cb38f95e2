"""Transactional enqueue: ``await MyTask(...).dispatch(connection=conn)`` inside the
caller's transaction (asyncpg, SQLAlchemy AsyncConnection and AsyncSession). The job
exists only if the caller commits; a worker never sees a rolled-back one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from asynctasq import AsyncTask
from asynctasq.core.dispatcher import Dispatcher, set_dispatcher
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import Driver
from tests.backends import Backend
from tests.conftest import only_backends

ran: list[str] = []


class Remember(AsyncTask[None], name="tests.pg.Remember"):
    key: str

    async def execute(self) -> None:
        ran.append(self.key)


class Rollback(Exception):
    pass


@pytest.fixture
async def app(backend: Backend) -> AsyncIterator[tuple[Backend, Driver]]:
    """The backend's driver as this loop's default dispatcher, and a user table."""
    ran.clear()
    driver = await backend.new_driver()
    set_dispatcher(Dispatcher(driver, backend.config()))
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    schema = backend.schema  # type: ignore[attr-defined]
    await con.execute(f'CREATE TABLE "{schema}".orders (id text PRIMARY KEY)')
    await con.close()
    try:
        yield backend, driver
    finally:
        set_dispatcher(None)


async def drain(backend: Backend, driver: Driver) -> list[str]:
    """Run a burst worker over the default queue; returns what it ran."""
    worker = Worker(driver, ["default"], config=backend.config(), burst=True, handle_signals=False)
    await asyncio.wait_for(worker.start(), 30)
    return list(ran)


async def orders(backend: Backend) -> list[str]:
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        rows = await con.fetch(f'SELECT id FROM "{backend.schema}".orders')  # type: ignore[attr-defined]
    finally:
        await con.close()
    return [row["id"] for row in rows]


@only_backends("postgres")
async def test_asyncpg_commit_then_a_worker_runs_it(app: tuple[Backend, Driver]) -> None:
    backend, driver = app
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        async with con.transaction():
            await con.execute(
                f'INSERT INTO "{backend.schema}".orders VALUES ($1)',  # type: ignore[attr-defined]
                "o-1",
            )
            job_id = await Remember(key="committed").dispatch(connection=con)
            # not visible to anyone else before the commit
            assert await driver.get(job_id) is None
            assert (await driver.stats("default")).depth == 0
    finally:
        await con.close()
    assert await driver.get(job_id) is not None
    assert await drain(backend, driver) == ["committed"]
    assert await orders(backend) == ["o-1"]


@only_backends("postgres")
async def test_asyncpg_rollback_leaves_nothing(app: tuple[Backend, Driver]) -> None:
    backend, driver = app
    dispatched: list[str] = []

    async def order_then_fail(con: Any) -> None:
        async with con.transaction():
            await con.execute(
                f'INSERT INTO "{backend.schema}".orders VALUES ($1)',  # type: ignore[attr-defined]
                "o-1",
            )
            dispatched.append(await Remember(key="rolled-back").dispatch(connection=con))
            raise Rollback

    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        with pytest.raises(Rollback):
            await order_then_fail(con)
    finally:
        await con.close()
    (job_id,) = dispatched
    assert await driver.get(job_id) is None
    assert await drain(backend, driver) == []
    assert await orders(backend) == []


@only_backends("postgres")
async def test_a_waiting_worker_wakes_at_commit_not_before(app: tuple[Backend, Driver]) -> None:
    backend, _ = app
    consumer = await backend.new_driver()
    waiting = asyncio.create_task(
        consumer.reserve(["default"], limit=10, worker_id="w", lease_seconds=30, wait=10)
    )
    await asyncio.sleep(0.2)
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        async with con.transaction():
            job_id = await Remember(key="late").dispatch(connection=con)
            await asyncio.sleep(0.5)  # the NOTIFY is held back until the commit
            assert not waiting.done()
        got = await asyncio.wait_for(waiting, 5)
    finally:
        await con.close()
    assert [j.id for j in got] == [job_id]


async def sqlalchemy_engine(backend: Backend) -> Any:
    # the test DSN's settings (synchronous_commit) go to asyncpg as server settings
    parts = urlsplit(backend.dsn)  # type: ignore[attr-defined]
    url = urlunsplit(parts._replace(scheme="postgresql+asyncpg", query=""))
    settings = dict(parse_qsl(parts.query))
    return create_async_engine(url, connect_args={"server_settings": settings})


@only_backends("postgres")
async def test_sqlalchemy_connection_commit_and_rollback(app: tuple[Backend, Driver]) -> None:
    backend, driver = app
    engine = await sqlalchemy_engine(backend)
    table = f'"{backend.schema}".orders'  # type: ignore[attr-defined]
    dispatched: list[str] = []

    async def order(key: str, *, fail: bool, with_row: bool = True) -> None:
        async with engine.begin() as conn:
            if with_row:
                await conn.execute(text(f"INSERT INTO {table} VALUES ('{key}')"))
            dispatched.append(await Remember(key=key).dispatch(connection=conn))
            if fail:
                raise Rollback

    try:
        await order("kept", fail=False)
        with pytest.raises(Rollback):
            await order("dropped", fail=True)
        # the job as the transaction's first statement: SQLAlchemy begins lazily, and
        # the job must still go with the transaction
        with pytest.raises(Rollback):
            await order("first-statement", fail=True, with_row=False)
    finally:
        await engine.dispose()
    kept, dropped, first = dispatched
    assert await driver.get(kept) is not None
    assert await driver.get(dropped) is None and await driver.get(first) is None
    assert await drain(backend, driver) == ["kept"]
    assert await orders(backend) == ["kept"]


@only_backends("postgres")
async def test_sqlalchemy_session_commit_and_rollback(app: tuple[Backend, Driver]) -> None:
    backend, driver = app
    engine = await sqlalchemy_engine(backend)
    table = f'"{backend.schema}".orders'  # type: ignore[attr-defined]
    try:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(text(f"INSERT INTO {table} VALUES ('o-1')"))
            kept = await Remember(key="kept").dispatch(connection=session)
        async with AsyncSession(engine) as session:
            await session.execute(text(f"INSERT INTO {table} VALUES ('o-2')"))
            dropped = await Remember(key="dropped").dispatch(connection=session)
            await session.rollback()
        async with AsyncSession(engine) as session:
            unfinished = await Remember(key="never-committed").dispatch(connection=session)
            # closing the session without commit rolls back
    finally:
        await engine.dispose()
    assert await driver.get(kept) is not None
    assert await driver.get(dropped) is None and await driver.get(unfinished) is None
    assert await drain(backend, driver) == ["kept"]
    assert await orders(backend) == ["o-1"]


@only_backends("postgres")
async def test_dispatch_many_in_one_transaction(app: tuple[Backend, Driver]) -> None:
    from asynctasq import dispatch_many

    backend, driver = app
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        async with con.transaction():
            ids = await dispatch_many([Remember(key=str(i)) for i in range(300)], connection=con)
    finally:
        await con.close()
    assert len(set(ids)) == 300
    assert sorted(await drain(backend, driver), key=int) == [str(i) for i in range(300)]


@only_backends("postgres")
async def test_an_unusable_connection_is_refused_clearly(app: tuple[Backend, Driver]) -> None:
    with pytest.raises(TypeError, match="asyncpg Connection"):
        await Remember(key="x").dispatch(connection=object())
    from sqlalchemy import create_engine

    sync_engine = create_engine("sqlite://")
    with sync_engine.connect() as conn, pytest.raises(TypeError, match="AsyncConnection"):
        await Remember(key="x").dispatch(connection=conn)
    sync_engine.dispose()


@only_backends("postgres")
async def test_a_connection_to_a_database_without_the_queue_is_named(
    app: tuple[Backend, Driver],
) -> None:
    from asynctasq.drivers.base import DriverError

    backend, _ = app
    other = backend.dsn.rsplit("/", 1)[0] + "/postgres"  # type: ignore[attr-defined]
    con = await asyncpg.connect(other)
    try:
        async with con.transaction():
            with pytest.raises(DriverError, match="without the asynctasq schema"):
                await Remember(key="lost").dispatch(connection=con)
    finally:
        await con.close()


@only_backends("postgres")
async def test_an_open_transaction_on_a_new_queue_blocks_no_other_producer(
    app: tuple[Backend, Driver],
) -> None:
    """The first job of a queue, enqueued in a transaction that stays open: other
    producers of that queue go on (the queue's row is not the caller's to hold)."""
    backend, _driver = app
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        async with con.transaction():
            await Remember(key="inside").on_queue("brand-new").dispatch(connection=con)
            # deadlock detector, not a speed check: before the fix this waited forever
            outside = await asyncio.wait_for(
                Remember(key="outside").on_queue("brand-new").dispatch(), 10
            )
            assert outside
            raise Rollback
    except Rollback:
        pass
    finally:
        await con.close()
