"""What only the MongoDB driver does: enqueue inside the caller's transaction, wake-ups
from a change stream, the indexes it creates, its settings."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymongo import AsyncMongoClient

from asynctasq.config import Config, ConfigError
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import DriverError
from asynctasq.drivers.mongodb import MongoDBDriver
from asynctasq.drivers.mongodb.store import INDEXES
from asynctasq.jobs import Job
from tests.backends_mongodb import MongoDBBackend
from tests.conftest import only_backends

mongodb = only_backends("mongodb")


def make_job(**fields: object) -> Job:
    return Job(task="tests.noop", payload=b"\x80", **fields)  # type: ignore[arg-type]


async def _driver(backend: MongoDBBackend, **options: object) -> MongoDBDriver:
    driver = await backend.new_driver(**options)
    assert isinstance(driver, MongoDBDriver)
    return driver


@mongodb
async def test_jobs_enqueued_in_a_transaction_exist_only_if_it_commits(
    backend: MongoDBBackend,
) -> None:
    driver = await _driver(backend)
    client = driver.store.client
    kept, dropped = make_job(), make_job()
    async with client.start_session() as session:
        await session.start_transaction()
        assert await driver.enqueue([dropped], connection=session) == [dropped.id]
        assert await driver.get(dropped.id) is None  # not visible before the commit
        await session.abort_transaction()
    async with client.start_session() as session, await session.start_transaction():
        await driver.enqueue([kept], connection=session)
    assert await driver.get(dropped.id) is None
    got = await driver.get(kept.id)
    assert got is not None and got.id == kept.id


@mongodb
async def test_a_unique_key_inside_a_transaction_returns_the_holder(
    backend: MongoDBBackend,
) -> None:
    driver = await _driver(backend)
    holder = make_job(unique_key="k")
    await driver.enqueue([holder])
    async with driver.store.client.start_session() as session, await session.start_transaction():
        ids = await driver.enqueue([make_job(unique_key="k")], connection=session)
    assert ids == [holder.id]


@mongodb
async def test_a_session_without_a_transaction_is_refused(backend: MongoDBBackend) -> None:
    driver = await _driver(backend)
    async with driver.store.client.start_session() as session:
        with pytest.raises(DriverError, match="no transaction open"):
            await driver.enqueue([make_job()], connection=session)
    with pytest.raises(DriverError, match="AsyncClientSession"):
        await driver.enqueue([make_job()], connection=object())


@mongodb
async def test_an_idle_reserve_wakes_on_the_change_stream_not_the_poll(
    backend: MongoDBBackend,
) -> None:
    consumer = await _driver(backend, poll_interval=30.0)  # a poll would be far too late
    producer = await _driver(backend)
    job = make_job()

    async def enqueue_soon() -> None:
        await asyncio.sleep(0.5)
        await producer.enqueue([job])

    started = time.monotonic()
    sending = asyncio.create_task(enqueue_soon())
    got = await consumer.reserve(["default"], limit=1, worker_id="w", lease_seconds=30, wait=20)
    await sending
    assert [j.id for j in got] == [job.id]
    assert time.monotonic() - started < 10


@mongodb
async def test_connect_creates_the_indexes_the_claim_needs(backend: MongoDBBackend) -> None:
    driver = await _driver(backend)
    found = await driver.store.jobs.index_information()
    assert {name for name, _, _ in INDEXES} <= set(found)
    assert found["unique"]["unique"] is True


async def test_settings_reach_the_driver_and_the_password_stays_out_of_repr() -> None:
    config = Config(
        driver="mongodb",
        mongodb_url="mongodb://app:s3cret@db.internal:27017/app",
        mongodb_database="queues",
        mongodb_prefix="jobs",
        mongodb_write_concern="2",
        mongodb_poll_interval=0.25,
    )
    driver = DriverFactory.create_from_config(config)
    assert isinstance(driver, MongoDBDriver)
    assert (driver.database, driver.prefix, driver.poll_interval) == ("queues", "jobs", 0.25)
    assert driver.write_concern == "2"
    assert "s3cret" not in repr(driver)
    assert isinstance(DriverFactory.from_url("mongodb://127.0.0.1/x"), MongoDBDriver)
    with pytest.raises(ValueError, match="write concern"):
        MongoDBDriver(write_concern="all")


def test_driver_options_win_over_settings_and_unknown_ones_are_named() -> None:
    config = Config(driver="mongodb", mongodb_prefix="jobs")
    driver = DriverFactory.create_from_config(config, options={"prefix": "other"})
    assert isinstance(driver, MongoDBDriver) and driver.prefix == "other"
    with pytest.raises(ConfigError, match="does not take schema"):
        DriverFactory.create_from_config(config, options={"schema": "x"})


def test_the_client_library_is_pymongos_asyncio_client() -> None:
    assert AsyncMongoClient.__module__.startswith("pymongo.asynchronous")


@mongodb
async def test_an_idle_reserve_does_not_spin_on_a_paused_queues_due_jobs(
    backend: MongoDBBackend,
) -> None:
    driver = await _driver(backend, poll_interval=0.2)
    await driver.enqueue([make_job(queue="held")])
    await driver.pause("held")
    claims = 0
    original = driver.claim

    async def counting(*args: object, **kwargs: object) -> list[Job]:
        nonlocal claims
        claims += 1
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    driver.claim = counting  # type: ignore[method-assign]
    assert await driver.reserve(["held"], limit=1, worker_id="w", lease_seconds=5, wait=1.0) == []
    assert claims < 20  # a look per poll interval or wake-up, not one per millisecond


@mongodb
async def test_without_change_streams_an_idle_reserve_polls(backend: MongoDBBackend) -> None:
    consumer = await _driver(backend, change_streams=False, poll_interval=0.2)
    producer = await _driver(backend)
    job = make_job()

    async def enqueue_soon() -> None:
        await asyncio.sleep(0.5)
        await producer.enqueue([job])

    sending = asyncio.create_task(enqueue_soon())
    got = await consumer.reserve(["default"], limit=1, worker_id="w", lease_seconds=30, wait=20)
    await sending
    assert [j.id for j in got] == [job.id]
    assert consumer._changes is None  # no stream was opened: the poll found it


@mongodb
async def test_a_result_beside_a_job_that_still_exists_never_outranks_it(
    backend: MongoDBBackend,
) -> None:
    """The result is written before the completed job's document is deleted: a crash
    between the two leaves both, and the job's own state is what waiters read."""
    from asynctasq.drivers.mongodb.results import keep_results
    from asynctasq.jobs import JobState

    driver = await _driver(backend)
    job = make_job()
    await driver.enqueue([job])
    (claimed,) = await driver.claim(["default"], limit=1, worker_id="w", lease_seconds=30)
    await keep_results(driver.store, [(job.id, b"\xc3")], time.time())  # then the "crash"
    assert (await driver.job_outcomes([job.id]))[job.id].state is JobState.ACTIVE
    assert await driver.complete(claimed, b"\xc2")  # its real completion
    found = (await driver.job_outcomes([job.id]))[job.id]
    assert (found.state, found.result) == (JobState.COMPLETED, b"\xc2")
    assert await driver.store.jobs.count_documents({"_id": job.id}) == 0  # not kept


@mongodb
async def test_results_are_forgotten_after_their_retention(backend: MongoDBBackend) -> None:
    driver = await _driver(backend)
    driver.result_retention = 0.2
    job = make_job()
    await driver.enqueue([job])
    (claimed,) = await driver.claim(["default"], limit=1, worker_id="w", lease_seconds=30)
    assert await driver.complete(claimed, b"\xc3")
    assert (await driver.job_outcomes([job.id]))[job.id].result == b"\xc3"
    await asyncio.sleep(0.3)
    driver._next_sweep = 0.0  # the sweep runs at most every few seconds
    await driver.recover_expired()
    assert await driver.job_outcomes([job.id]) == {}
