"""What the PostgreSQL driver does beyond the contract: settings and secrets, the claim
served by its index, wake-ups through LISTEN/NOTIFY and without them, and surviving
the loss of its connections (pg_terminate_backend)."""

from __future__ import annotations

import asyncio
import secrets
import time

import asyncpg
import pytest

from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import DriverError
from asynctasq.drivers.postgres import PostgresDriver
from asynctasq.jobs import Completed, Job, JobState
from tests.backends import Backend
from tests.backends_postgres import DSN, dsn_with
from tests.conftest import only_backends


def job(queue: str = "default", **fields: object) -> Job:
    fields.setdefault("payload", b"p")
    return Job(task="t", queue=queue, **fields)  # type: ignore[arg-type]


def tagged(backend: Backend) -> str:
    """The backend's DSN with an application_name that marks this test's connections."""
    return dsn_with(DSN, application_name=backend.schema)  # type: ignore[attr-defined]


async def terminate(backend: Backend) -> int:
    """pg_terminate_backend every connection this test's drivers opened."""
    con = await asyncpg.connect(DSN)
    try:
        rows = await con.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            backend.schema,  # type: ignore[attr-defined]
        )
    finally:
        await con.close()
    return len(rows)


# -- settings --------------------------------------------------------------------------


def test_settings_build_the_driver_and_bad_ones_are_named() -> None:
    config = Config(
        driver="postgres",
        postgres_dsn="postgresql://app:s3cret@db.example:5433/jobs",
        postgres_schema="queue",
        postgres_min_pool_size=2,
        postgres_max_pool_size=7,
        keep_completed_tasks=True,
    )
    driver = DriverFactory.create_from_config(config)
    assert isinstance(driver, PostgresDriver)
    assert (driver.schema, driver.min_pool_size, driver.max_pool_size) == ("queue", 2, 7)
    assert driver.keep_completed
    assert "s3cret" not in repr(driver) and "app:***@db.example" in repr(driver)
    with pytest.raises(ValueError, match="ASYNCTASQ_POSTGRES_DSN") as bad_dsn:
        PostgresDriver("mysql://root:hunter2@localhost/x")
    assert "hunter2" not in str(bad_dsn.value)
    with pytest.raises(ValueError, match="ASYNCTASQ_POSTGRES_SCHEMA"):
        PostgresDriver(DSN, schema='x"; DROP TABLE y; --')


async def test_an_unreachable_server_is_reported_without_the_password() -> None:
    driver = PostgresDriver("postgresql://app:s3cret@127.0.0.1:1/jobs")
    with pytest.raises(DriverError) as caught:
        await driver.connect()
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "s3cret" not in message
    assert "s3cret" not in repr(caught.value.__cause__)


async def test_a_wrong_password_is_reported_without_it() -> None:
    con = await asyncpg.connect(DSN)
    role = f"asynctasq_pw_{secrets.token_hex(4)}"
    try:
        await con.execute(f"DROP ROLE IF EXISTS {role}")
        await con.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right'")
        driver = PostgresDriver(f"postgresql://{role}:wrong-s3cret@127.0.0.1:5432/test")
        problem = ""
        try:
            await driver.connect()
        except DriverError as exc:  # trust auth accepts any password; md5/scram refuse
            problem = f"{exc} {exc.__cause__!r}"
        else:
            await driver.disconnect()
        assert "wrong-s3cret" not in problem
    finally:
        await con.execute(f"DROP ROLE IF EXISTS {role}")
        await con.close()


# -- the claim -------------------------------------------------------------------------


@only_backends("postgres")
async def test_the_claim_reads_its_index_in_order_and_skips_locked_rows(backend: Backend) -> None:
    driver = await backend.new_driver()
    now = time.time()
    await driver.enqueue([job(priority=i % 3, run_at=now - i) for i in range(3000)])
    await driver.enqueue([job("other") for _ in range(3000)])
    con = await asyncpg.connect(DSN)
    try:
        await con.execute(f'ANALYZE "{backend.schema}".jobs')  # type: ignore[attr-defined]
        claim = driver.sql["claim"]  # type: ignore[attr-defined]
        async with con.transaction():
            plan = "\n".join(
                row[0]
                for row in await con.fetch(
                    "EXPLAIN " + claim, ["default"], time.time(), 50, "w", time.time() + 30
                )
            )
            # the first 50 rows come straight off jobs_claim: no sort of the queue, no scan
            assert "LockRows" in plan
            assert "Index Scan using jobs_claim" in plan
            assert "Seq Scan on jobs" not in plan
            # a transaction that holds rows (a claim in progress) is skipped, not waited on
            held = await con.fetch(
                claim, ["default"], time.time(), 10, "other-worker", time.time() + 30
            )
            assert len(held) == 10
            got = await asyncio.wait_for(
                driver.reserve(["default"], limit=10, worker_id="w", lease_seconds=30), 5
            )
            assert len(got) == 10 and not {j.id for j in got} & {r["id"] for r in held}
    finally:
        await con.close()


@only_backends("postgres")
async def test_unique_keys_in_crossed_order_from_two_batches_do_not_deadlock(
    backend: Backend,
) -> None:
    a, b = await backend.new_driver(), await backend.new_driver()
    keys = [f"k{i}" for i in range(200)]
    for _ in range(5):
        first = [job(unique_key=k) for k in keys]
        second = [job(unique_key=k) for k in reversed(keys)]
        ids_a, ids_b = await asyncio.gather(a.enqueue(first), b.enqueue(second))
        assert sorted(ids_a) == sorted(ids_b)  # each key: one holder, both told its id
        assert (await a.stats("default")).depth == len(keys)
        await a.purge("default", JobState.PENDING)


@only_backends("postgres")
async def test_a_job_reported_twice_in_one_batch_is_applied_once(backend: Backend) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([job()])
    (got,) = await driver.reserve(["default"], limit=1, worker_id="w", lease_seconds=30)
    done = Completed(got.id, "w", got.attempts)
    assert await driver.settle([done, done]) == [True, False]


# -- wake-ups --------------------------------------------------------------------------


@only_backends("postgres")
async def test_reserve_waits_for_notify_not_for_polling(backend: Backend) -> None:
    # a poll interval far beyond the test: only NOTIFY can wake the reserve this fast
    consumer = await backend.new_driver(poll_interval=60)
    producer = await backend.new_driver()
    for round_ in range(3):
        waiting = asyncio.create_task(
            consumer.reserve(["default"], limit=5, worker_id="w", lease_seconds=30, wait=30)
        )
        await asyncio.sleep(0.2)
        sent = time.monotonic()
        await producer.enqueue([job()])
        got = await asyncio.wait_for(waiting, 10)
        assert len(got) == 1, round_
        assert time.monotonic() - sent < 1.0


@only_backends("postgres")
async def test_a_job_that_comes_while_the_listen_opens_is_not_missed(backend: Backend) -> None:
    """The LISTEN connection opens beside the first claim (a waiting job does not wait
    for it): a job enqueued after that claim but before the LISTEN, whose NOTIFY nobody
    heard, is found by the claim that follows the LISTEN, not by a poll a minute on."""
    consumer = await backend.new_driver(poll_interval=60)
    producer = await backend.new_driver()
    listener = consumer._listener  # type: ignore[attr-defined]
    subscribe = listener.subscribe

    async def late_subscribe(channels: object) -> None:
        await asyncio.sleep(0.3)  # the first claim has found nothing by now
        await producer.enqueue([job()])
        await subscribe(channels)

    listener.subscribe = late_subscribe
    got = await asyncio.wait_for(
        consumer.reserve(["default"], limit=5, worker_id="w", lease_seconds=30, wait=30), 10
    )
    assert len(got) == 1


@only_backends("postgres")
async def test_a_lost_listen_connection_is_replaced_and_polling_bridges_the_gap(
    backend: Backend,
) -> None:
    consumer = PostgresDriver(tagged(backend), schema=backend.schema, poll_interval=60)  # type: ignore[attr-defined]
    await consumer.connect()
    backend.drivers.append(consumer)
    producer = await backend.new_driver()
    waiting = asyncio.create_task(
        consumer.reserve(["default"], limit=5, worker_id="w", lease_seconds=30, wait=30)
    )
    await asyncio.sleep(0.3)
    assert await terminate(backend) >= 2  # the pool's connection and the listener
    await producer.enqueue([job()])  # may be notified while nobody listens
    got = await asyncio.wait_for(waiting, 10)
    assert len(got) == 1
    # the listener is back: wake-ups are immediate again
    deadline = time.monotonic() + 10
    while not consumer._listener.healthy:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the listener did not reconnect"
        await asyncio.sleep(0.05)
    waiting = asyncio.create_task(
        consumer.reserve(["default"], limit=5, worker_id="w", lease_seconds=30, wait=30)
    )
    await asyncio.sleep(0.2)
    sent = time.monotonic()
    await producer.enqueue([job()])
    assert len(await asyncio.wait_for(waiting, 10)) == 1
    assert time.monotonic() - sent < 1.0


# -- connection loss -------------------------------------------------------------------


@only_backends("postgres")
async def test_every_call_survives_its_connections_being_terminated(backend: Backend) -> None:
    driver = PostgresDriver(tagged(backend), schema=backend.schema, min_pool_size=2)  # type: ignore[attr-defined]
    await driver.connect()
    backend.drivers.append(driver)
    await driver.enqueue([job() for _ in range(20)])
    got = await driver.reserve(["default"], limit=10, worker_id="w", lease_seconds=30)
    assert await terminate(backend) >= 1
    # the pool's connections are gone: the next statements reconnect transparently
    assert await driver.settle([Completed(j.id, "w", j.attempts) for j in got]) == [True] * 10
    assert await terminate(backend) >= 1
    assert len(await driver.reserve(["default"], limit=10, worker_id="w", lease_seconds=30)) == 10
    assert await terminate(backend) >= 1
    assert (await driver.stats("default")).processing == 10
    assert await terminate(backend) >= 1
    assert await driver.enqueue([j := job()]) == [j.id]


@only_backends("postgres")
async def test_an_idle_reserve_wakes_for_the_earliest_job_of_any_priority(
    backend: Backend,
) -> None:
    driver = await backend.new_driver(poll_interval=60)  # only next_due can wake it
    now = time.time()
    await driver.enqueue(
        [job(priority=p, run_at=now + 30 + p) for p in range(-5, 50)]  # many levels
        + [job(priority=7, run_at=now + 0.5), job(priority=-9, run_at=now + 20)]
    )
    started = time.monotonic()
    got = await driver.reserve(["default"], limit=5, worker_id="w", lease_seconds=30, wait=10)
    assert [j.priority for j in got] == [7]
    assert 0.4 <= time.monotonic() - started < 2.0


@only_backends("postgres")
async def test_a_claimed_job_carries_every_field_as_stored(backend: Backend) -> None:
    driver = await backend.new_driver()
    now = time.time()
    parents = [job("parents"), job("parents")]
    await driver.enqueue(parents)  # completed before the job that names them
    for parent in await driver.reserve(["parents"], limit=2, worker_id="w", lease_seconds=30):
        assert await driver.complete(parent)
    parent_ids = tuple(p.id for p in parents)
    stored = job(
        "emails",
        priority=-3,
        max_attempts=4,
        timeout=2.5,
        unique_key="k:1",
        depends_on=parent_ids,
        expires_at=now + 60,
        payload=bytes(range(256)),
    )
    await driver.enqueue([stored])
    (claimed,) = await driver.reserve(["emails"], limit=1, worker_id="w", lease_seconds=30)
    read = await driver.get(stored.id)
    assert read is not None
    assert claimed == read  # the claim's fast conversion agrees with the general one
    assert claimed.depends_on == parent_ids and claimed.payload == bytes(range(256))


@only_backends("postgres")
async def test_concurrent_claims_over_several_queues_never_share_a_job(
    backend: Backend,
) -> None:
    producer = await backend.new_driver()
    now = time.time()
    queues = ["a", "b", "c"]
    await producer.enqueue(
        [job(queues[i % 3], priority=i % 4, run_at=now - i % 7) for i in range(1500)]
    )
    consumers = [await backend.new_driver() for _ in range(4)]
    seen: list[str] = []

    async def consume(driver: PostgresDriver, worker: str) -> None:
        while jobs := await driver.reserve(queues, limit=25, worker_id=worker, lease_seconds=30):
            seen.extend(j.id for j in jobs)
            # each batch comes in claim order
            assert [(j.priority, j.run_at) for j in jobs] == sorted(
                (j.priority, j.run_at) for j in jobs
            )
            await driver.settle([Completed(j.id, worker, j.attempts) for j in jobs])

    await asyncio.wait_for(
        asyncio.gather(*(consume(d, f"w{i}") for i, d in enumerate(consumers))),  # type: ignore[arg-type]
        60,
    )
    assert len(seen) == len(set(seen)) == 1500


@only_backends("postgres")
async def test_claims_keep_the_jobs_table_vacuumed(backend: Backend) -> None:
    await (await backend.new_driver()).enqueue([job() for _ in range(2000)])
    for _ in range(2):  # two processes' drivers, one after the other
        driver = await backend.new_driver(vacuum_every=1000)
        got = await driver.reserve(["default"], limit=1000, worker_id="w", lease_seconds=30)
        await driver.settle([Completed(j.id, "w", j.attempts) for j in got])
        deadline = time.monotonic() + 10
        while driver._vacuum.runs < 1:  # type: ignore[attr-defined]  # in the background
            assert time.monotonic() < deadline, "no vacuum ran"
            await asyncio.sleep(0.05)


@only_backends("postgres")
async def test_statements_stay_on_their_indexes_when_statistics_say_empty(
    backend: Backend,
) -> None:
    """A queue table is often analyzed while empty; then filled. The worker's statements
    must still reach rows through the primary key, not scan or join the whole table."""
    from asynctasq.drivers.postgres.batches import settle_args
    from asynctasq.drivers.postgres.handoff import NO_CLAIM

    driver = await backend.new_driver()
    schema = backend.schema  # type: ignore[attr-defined]
    con = await driver._db.pool.acquire()  # type: ignore[attr-defined]  # the driver's settings
    try:
        await con.execute(f'ANALYZE "{schema}".jobs')  # statistics: no rows at all
        await driver.enqueue([job() for _ in range(3000)])
        got = await driver.reserve(["default"], limit=1000, worker_id="w", lease_seconds=30)
        outcomes = [Completed(j.id, "w", j.attempts) for j in got]
        now = time.time()
        claim = [["default"], 100, "w", now + 30]  # settle_and_claim
        statements = {
            "settle": (settle_args(outcomes, False), [now, *NO_CLAIM]),
            "settle (kept)": (settle_args(outcomes, True), [now, *NO_CLAIM]),
            "settle (claiming)": (settle_args(outcomes, False), [now, *claim]),
            "settle_bounded": (settle_args(outcomes, False), [now, *claim, 1000]),
            "settle_bounded (kept)": (settle_args(outcomes, True), [now, *claim, 1000]),
            "renew": ([[j.id for j in got], "w", now + 30], []),
        }
        for name, (args, extra) in statements.items():
            query = driver.sql[name.split(" ")[0]]  # type: ignore[attr-defined]
            async with con.transaction():
                plan = "\n".join(r[0] for r in await con.fetch("EXPLAIN " + query, *args, *extra))
            assert "Seq Scan on jobs" not in plan, (name, plan)
            assert "Join" not in plan and "Nested Loop" not in plan, (name, plan)
            assert "jobs_pkey" in plan, (name, plan)
    finally:
        await driver._db.pool.release(con)  # type: ignore[attr-defined]


@only_backends("postgres")
@pytest.mark.parametrize("size", [50, 600])  # an INSERT, a COPY
async def test_enqueueing_the_same_jobs_again_stores_them_once(backend: Backend, size: int) -> None:
    driver = await backend.new_driver()
    jobs = [job() for _ in range(size)]
    ids = [j.id for j in jobs]
    assert await driver.enqueue(jobs) == ids
    # the same batch again (a caller retrying, or a retry whose first reply was lost)
    assert await driver.enqueue(jobs) == ids
    assert await driver.enqueue([*jobs[:10], extra := job()]) == [*ids[:10], extra.id]
    assert (await driver.stats("default")).depth == size + 1


@only_backends("postgres")
async def test_a_large_batch_stores_every_field_and_wakes_workers(backend: Backend) -> None:
    consumer, producer = await backend.new_driver(), await backend.new_driver()
    now = time.time()
    parent = job("parents")  # half the jobs name it: they are stored blocked
    await producer.enqueue([parent])
    jobs = [
        job(
            "bulk",
            priority=i % 5 - 2,
            max_attempts=3,
            timeout=1.5,
            depends_on=(parent.id,) if i % 2 else (),
            expires_at=now + 60,
            payload=i.to_bytes(4, "big"),
            run_at=now - 1,
        )
        for i in range(1000)
    ]
    waiting = asyncio.create_task(
        consumer.reserve(["bulk"], limit=1, worker_id="w", lease_seconds=30, wait=30)
    )
    await asyncio.sleep(0.2)
    assert await producer.enqueue(jobs) == [j.id for j in jobs]  # by COPY
    assert len(await asyncio.wait_for(waiting, 5)) == 1  # NOTIFY at commit
    for stored in jobs[1:6]:
        got = await producer.get(stored.id)
        assert got is not None
        assert (got.payload, got.priority, got.timeout, got.depends_on) == (
            stored.payload,
            stored.priority,
            1.5,
            stored.depends_on,
        )
        assert (got.run_at, got.expires_at) == (stored.run_at, stored.expires_at)
    assert "bulk" in await producer.queues()


@only_backends("postgres")
async def test_the_claims_relaxed_commit_stays_inside_the_claim(backend: Backend) -> None:
    driver = await backend.new_driver(min_pool_size=1, max_pool_size=1)  # one connection
    show = "SHOW synchronous_commit"
    before = await driver._db.fetchval(show)  # type: ignore[attr-defined]
    await driver.enqueue([job()])
    assert len(await driver.reserve(["default"], limit=1, worker_id="w", lease_seconds=30))
    # the next statement on the same connection commits as the server is set up to
    assert await driver._db.fetchval(show) == before  # type: ignore[attr-defined]
