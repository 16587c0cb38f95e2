"""SQLAlchemy models through a real worker, on PostgreSQL and MariaDB, with async
and sync sessions: fresh rows, one query per class, ModelNotFound, forged payloads,
and pool processes that fetch rows themselves."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from asynctasq.core.worker.process_pool import ProcessPool
from asynctasq.errors import ModelNotFound
from asynctasq.jobs import Job, JobState
from asynctasq.serialization.orm import sqlalchemy as sa_orm
from asynctasq.serialization.payload import encode_payload
from tests.integration.orm_support import sqlalchemy_tasks as tasks
from tests.integration.orm_support.broker import Broker
from tests.integration.orm_support.databases import (
    MARIADB_HOST,
    PG_HOST,
    mariadb_database,
    postgres_database,
)
from tests.integration.orm_support.sql_log import record_selects
from tests.integration.orm_support.sqlalchemy_models import (
    Base,
    Customer,
    Document,
    OrderLine,
    seed,
)

CUSTOMER = "tests.integration.orm_support.sqlalchemy_models:Customer"

#: name -> (server, async driver URL scheme, sync driver URL scheme, worker uses async)
SETUPS = {
    "postgresql-async": ("postgresql", "postgresql+asyncpg", "postgresql+psycopg", True),
    "postgresql-sync": ("postgresql", "postgresql+asyncpg", "postgresql+psycopg", False),
    "mariadb-async": ("mariadb", "mysql+aiomysql", "mysql+pymysql", True),
    "mariadb-sync": ("mariadb", "mysql+aiomysql", "mysql+pymysql", False),
}


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, str]]:
    """One database per server for this module: name -> URL path (host/db)."""
    with (
        postgres_database("asynctasq_orm_sa") as pg,
        mariadb_database("asynctasq_orm_sa") as maria,
    ):
        yield {"postgresql": f"postgres@{PG_HOST}/{pg}", "mariadb": f"root@{MARIADB_HOST}/{maria}"}


@dataclass
class Database:
    sync_url: str
    async_url: str
    admin: Engine  # the test's own connection: seeding and changing rows
    worker_async: bool
    selects: list[str]


@pytest.fixture(params=list(SETUPS))
async def db(request: pytest.FixtureRequest, databases: dict[str, str]) -> AsyncIterator[Database]:
    server, async_scheme, sync_scheme, worker_async = SETUPS[request.param]
    where = databases[server]
    sync_url, async_url = f"{sync_scheme}://{where}", f"{async_scheme}://{where}"
    database = Database(sync_url, async_url, create_engine(sync_url), worker_async, [])
    seed(database.admin)
    if worker_async:
        async_engine = create_async_engine(database.async_url)
        sa_orm.configure(async_sessionmaker(async_engine), Base)
        database.selects = record_selects(async_engine.sync_engine)
    else:
        sync_engine = create_engine(database.sync_url)
        sa_orm.configure(sessionmaker(sync_engine), Base)
        database.selects = record_selects(sync_engine)
    tasks.SEEN.clear()
    tasks.FAILED.clear()
    yield database
    sa_orm.unconfigure()
    if worker_async:
        await async_engine.dispose()
    else:
        sync_engine.dispose()
    database.admin.dispose()


def _load(db: Database) -> dict[str, Any]:
    """Detached instances, as the code that dispatches would hold them."""
    with Session(db.admin, expire_on_commit=False) as session:
        return {
            "customers": session.query(Customer).order_by(Customer.id).all(),
            "lines": session.query(OrderLine).order_by(OrderLine.line_no).all(),
            "document": session.get(Document, uuid.UUID(int=5)),
        }


def _change(db: Database, *statements: str) -> None:
    with db.admin.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


async def test_the_task_sees_the_row_as_it_is_when_the_job_runs(db: Database) -> None:
    rows = _load(db)
    broker = Broker()
    await broker.dispatch(
        tasks.GreetCustomer(customer=rows["customers"][0]),
        tasks.ShipOrder(
            customers=rows["customers"],
            lines=tuple(rows["lines"]),
            documents={"terms": rows["document"]},
            note="gift",
        ),
    )
    _change(
        db,
        "UPDATE customers SET name = 'Ada', balance = 99.50 WHERE id = 1",
        "UPDATE order_lines SET quantity = 7 WHERE order_id = 9 AND line_no = 2",
        "UPDATE documents SET title = 'terms v2'",
    )
    await broker.drain()
    greeting, shipment = sorted(tasks.SEEN, key=lambda seen: isinstance(seen, dict))
    assert greeting == ("Ada", Decimal("99.50"))
    assert shipment == {
        "customers": ["Ada", "c2", "c3", "c4", "c5"],
        "lines": [(9, 1, 1), (9, 2, 7)],
        "documents": {"terms": "terms v2"},
        "note": "gift",
    }
    # one SELECT per model class per job: 5 customers, 2 lines, 1 document -> 3 queries
    assert sorted(db.selects) == ["customers", "customers", "documents", "order_lines"]


async def test_a_deleted_row_dead_letters_the_job_with_model_not_found(db: Database) -> None:
    rows = _load(db)
    broker = Broker()
    plain, retried = await broker.dispatch(
        tasks.GreetCustomer(customer=rows["customers"][0]),
        tasks.RetryMissing(customer=rows["customers"][1]),
    )
    _change(db, "DELETE FROM customers WHERE id IN (1, 2)")
    await broker.drain()
    job = await broker.job(plain)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)  # not retried by default
    assert job.error is not None
    assert f"ModelNotFound: {CUSTOMER} with primary key 1 no longer exists" in job.error
    again = await broker.job(retried)
    assert (again.state, again.attempts) == (JobState.FAILED, 2)  # should_retry said yes
    assert tasks.SEEN == []
    assert sorted(type(e).__name__ for e in tasks.FAILED) == ["ModelNotFound"] * 2
    assert {e.key for e in tasks.FAILED if isinstance(e, ModelNotFound)} == {1, 2}


@pytest.mark.parametrize(
    "name",
    [
        "os:system",
        "asynctasq.config:Config",
        "tests.integration.orm_support.sqlalchemy_models:Secret",
        "forged_sa_module_zz:Thing",
    ],
)
async def test_a_forged_reference_is_refused_and_nothing_imported(db: Database, name: str) -> None:
    broker = Broker()
    await broker.driver.connect()
    forged = msgpack.packb(
        {"args": {"customer": msgpack.ExtType(20, msgpack.packb([name, 1]))}},
        use_bin_type=True,
    )
    [job_id] = await broker.driver.enqueue(
        [Job(task=tasks.GreetCustomer.task_name, payload=forged, max_attempts=3)]
    )
    await broker.drain()
    job = await broker.job(job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.error is not None and "UnknownModelError: refused a reference" in job.error
    assert "forged_sa_module_zz" not in sys.modules
    assert db.selects == [] and tasks.SEEN == []


@pytest.mark.slow
async def test_pool_processes_fetch_the_rows_themselves(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process tasks: the pool process decodes the payload and fetches the rows with
    the session factory the settings name (spawned, it inherits this environment)."""
    support = "tests.integration.orm_support"
    factory = "AsyncSession" if db.worker_async else "Session"
    for key, value in {
        "ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY": f"{support}.sqlalchemy_db:{factory}",
        "ASYNCTASQ_SQLALCHEMY_BASES": f"{support}.sqlalchemy_models:Base",
        "ASYNCTASQ_TEST_ORM_URL": db.sync_url,
        "ASYNCTASQ_TEST_ORM_ASYNC_URL": db.async_url,
    }.items():
        monkeypatch.setenv(key, value)
    rows = _load(db)
    pool = ProcessPool(1, modules=[tasks.__name__], start_method="spawn")
    try:
        _change(db, "UPDATE customers SET name = 'Grace' WHERE id = 3")
        report = encode_payload({"customer": rows["customers"][2], "lines": rows["lines"]})
        assert await pool.run(tasks.CustomerReport.task_name, report, 60) == "Grace:3"
        short = encode_payload({"customer": rows["customers"][2]})
        result = await pool.run(tasks.AsyncCustomerReport.task_name, short, 60)
        assert result == "async:Grace:c3@example.com"
        _change(db, "DELETE FROM customers WHERE id = 3")
        with pytest.raises(ModelNotFound) as caught:
            await pool.run(tasks.AsyncCustomerReport.task_name, short, 60)
        assert (caught.value.model, caught.value.key) == (CUSTOMER, 3)
    finally:
        await pool.close()
