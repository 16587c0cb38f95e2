"""The RabbitMQ driver when things go wrong: a dead connection (what a killed worker
leaves), a job whose last attempt died, messages that are no jobs, duplicates, and
the channel of the leases closed under it."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time

import pytest

from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, DriverError
from asynctasq.drivers.capabilities import CapabilityMissing, Inspection, capabilities_of, require
from asynctasq.drivers.rabbitmq import RabbitMQDriver
from asynctasq.drivers.rabbitmq import driver as rabbitmq_driver
from asynctasq.drivers.rabbitmq.envelope import decode
from asynctasq.jobs import Completed, JobState
from tests.backends_rabbitmq import RabbitMQBackend, delete_namespace
from tests.conftest import only_backends
from tests.drivers.test_rabbitmq_core import W1, W2, claim, make_job

rabbitmq = only_backends("rabbitmq")


async def crash(driver: RabbitMQDriver) -> None:
    """Drop the driver's connection as a killed process would: nothing handed back."""
    assert driver._session is not None
    await driver._session.connection.close()


@rabbitmq
async def test_a_dead_connection_returns_its_deliveries_counted(backend: RabbitMQBackend) -> None:
    dying = await backend.new_driver()
    other = await backend.new_driver()
    await dying.enqueue([make_job(max_attempts=3)])
    (job,) = await claim(dying)
    await crash(dying)
    (again,) = await claim(other, worker_id=W2, wait=3)
    assert (again.id, again.attempts) == (job.id, 2)  # x-delivery-count: the lost attempt
    assert await dying.settle([Completed(job.id, W1, 1)]) == [False]
    assert await dying.renew(W1, [job.id], 30) == []
    assert await other.complete(again)


@rabbitmq
async def test_a_job_whose_last_attempt_died_is_dead_lettered_and_reported(
    backend: RabbitMQBackend,
) -> None:
    dying = await backend.new_driver()
    other = await backend.new_driver()
    await dying.enqueue([make_job("mail", max_attempts=1, timeout=4.0)])
    (job,) = await claim(dying, ["mail"])
    await crash(dying)
    assert await claim(other, ["mail"], wait=1.0) == []
    recovery = await other.recover_expired()
    assert recovery.requeued == 0
    (dead,) = recovery.dead  # for the worker's failed() hooks
    assert (dead.id, dead.state, dead.attempts, dead.error) == (
        job.id,
        JobState.FAILED,
        1,
        LEASE_EXPIRED_ERROR,
    )
    assert dead.timeout == 4.0 and dead.worker_id is None
    assert (await other.recover_expired()).dead == ()  # reported once
    ((body, _),) = await backend.dead_letters("mail")
    assert decode(body)[0].id == job.id


@rabbitmq
async def test_prefetched_jobs_go_back_uncounted_when_the_driver_disconnects(
    backend: RabbitMQBackend,
) -> None:
    first = await backend.new_driver(prefetch=10)
    await first.enqueue([make_job() for _ in range(5)])
    (job,) = await claim(first, limit=1)
    await asyncio.sleep(0.3)  # the consumer's prefetch fills meanwhile
    assert await first.complete(job)
    await first.disconnect()
    second = await backend.new_driver()
    rest = await claim(second, wait=2)
    assert len(rest) == 4
    assert {j.attempts for j in rest} == {1}


@rabbitmq
async def test_a_message_that_is_no_job_is_dead_lettered_and_the_rest_run(
    backend: RabbitMQBackend,
) -> None:
    driver = await backend.new_driver()
    good = [make_job(), make_job()]
    await driver.enqueue(good[:1])
    band_queue = f"{backend.prefix}.default.p1"
    await backend.publish_raw(band_queue, b"\xc1 not msgpack")
    await backend.publish_raw(band_queue, b"\x93\x01\x02\x03")  # msgpack, not a job
    await driver.enqueue(good[1:])
    got = await claim(driver, wait=1)
    got += await claim(driver)
    assert sorted(j.id for j in got) == sorted(j.id for j in good)
    dead = await backend.dead_letters()
    assert [body for body, _ in dead] == [b"\xc1 not msgpack", b"\x93\x01\x02\x03"]
    assert all(h["atq-error"].startswith("not an asynctasq job") for _, h in dead)


@rabbitmq
async def test_a_duplicate_of_a_held_job_is_dropped(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver()
    job = make_job()
    await driver.enqueue([job, job])  # as a publish retried after a lost confirm would
    (got,) = await claim(driver, wait=0.5)
    assert await driver.complete(got)
    assert await claim(driver, wait=0.3) == []


@rabbitmq
async def test_the_driver_reconnects_after_losing_its_connection(
    backend: RabbitMQBackend,
) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job()])
    await crash(driver)
    await driver.enqueue([make_job()])
    assert len(await claim(driver, wait=2)) == 2


@rabbitmq
async def test_outcomes_after_the_lease_channel_closed_are_rejected(
    backend: RabbitMQBackend,
) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job(max_attempts=3)])
    (job,) = await claim(driver)
    assert driver._session is not None and driver._session.lane is not None
    await driver._session.lane.channel.close()  # as the broker does on a consumer timeout
    assert not await driver.complete(job)
    assert await driver.renew(W1, [job.id], 30) == []
    (again,) = await claim(driver, wait=2)  # a new channel; the broker redelivered
    assert (again.id, again.attempts) == (job.id, 2)
    assert await driver.complete(again)


@rabbitmq
async def test_settings_build_it_and_it_declares_no_capability(backend: RabbitMQBackend) -> None:
    driver = DriverFactory.create_from_config(backend.config())
    assert isinstance(driver, RabbitMQDriver)
    assert (driver.url, driver.prefix) == (backend.url, backend.prefix)
    assert capabilities_of(driver) == []
    with pytest.raises(CapabilityMissing, match="rabbitmq driver does not support inspecting"):
        require(driver, Inspection, "the stats command")
    with pytest.raises(ValueError, match="cannot keep completed jobs"):
        DriverFactory.create_from_config(backend.config(keep_completed_tasks=True))


async def test_an_unreachable_broker_is_a_clear_error_without_the_password() -> None:
    driver = RabbitMQDriver("amqp://user:s3cret@127.0.0.1:1/")
    with pytest.raises(DriverError) as caught:
        await driver.connect()
    message = str(caught.value)
    assert "s3cret" not in message and "user:***@" in message
    assert "ASYNCTASQ_RABBITMQ_URL" in message
    assert "s3cret" not in repr(driver)
    assert "s3cret" not in repr(Config(driver="rabbitmq", rabbitmq_url=driver.url))


@rabbitmq
async def test_batched_acknowledgements_cover_exactly_the_settled_jobs(
    backend: RabbitMQBackend,
) -> None:
    """Acks of a batch go out as one frame (``multiple``) where nothing older is
    still out; whatever is still held must come back when the connection dies."""
    driver = await backend.new_driver()
    other = await backend.new_driver()
    await driver.enqueue([make_job(max_attempts=3) for _ in range(6)])
    a, b, c, d, e, f = await claim(driver, wait=1)
    assert await driver.settle([Completed(j.id, W1, 1) for j in (b, c)]) == [True, True]
    assert await driver.settle([Completed(j.id, W1, 1) for j in (a, e)]) == [True, True]
    await crash(driver)  # d and f were still held
    back = await claim(other, wait=2)
    assert sorted(j.id for j in back) == sorted([d.id, f.id])
    assert {j.attempts for j in back} == {2}


@rabbitmq
async def test_a_closed_publishing_channel_is_opened_again(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver()
    assert driver._session is not None
    await driver._session.publisher.channel.close()  # as the broker does on a channel error
    await driver.enqueue([make_job()])
    assert len(await claim(driver)) == 1


@rabbitmq
async def test_a_name_taken_by_another_kind_of_queue_is_a_clear_error(
    backend: RabbitMQBackend,
) -> None:
    import aiormq

    connection = await aiormq.connect(backend.url)
    try:
        channel = await connection.channel()
        await channel.queue_declare(f"{backend.prefix}.taken.p1", durable=True)  # classic
    finally:
        await connection.close()
    driver = await backend.new_driver()
    try:
        with pytest.raises(DriverError, match=r"'taken'.*ASYNCTASQ_RABBITMQ_PREFIX") as caught:
            await driver.enqueue([make_job("taken")])
        assert "PRECONDITION_FAILED" in str(caught.value)
        await driver.enqueue([make_job()])  # the driver goes on with other queues
        assert len(await claim(driver)) == 1
    finally:
        await delete_namespace(backend.url, backend.prefix, {"taken"})


@rabbitmq
async def test_acks_and_claims_interleaved_never_break_the_lease_channel(
    backend: RabbitMQBackend,
) -> None:
    """Claims that ask the broker (basic.get) while other claims' outcomes are
    acknowledged: a batched ack must never cover a delivery still on its way to the
    claim (acknowledging it twice would close the channel and return every job)."""
    driver = await backend.new_driver()
    producer = await backend.new_driver()
    done: list[str] = []

    async def work(worker: str) -> None:
        deadline = asyncio.get_running_loop().time() + 20
        while len(done) < 120 and asyncio.get_running_loop().time() < deadline:
            jobs = await claim(driver, worker_id=worker, limit=3, wait=0.05)
            done.extend(j.id for j in jobs)
            assert all(await driver.settle([Completed(j.id, worker, j.attempts) for j in jobs]))

    async def produce() -> None:
        for _ in range(30):
            await producer.enqueue([make_job() for _ in range(4)])
            await asyncio.sleep(0.005)

    assert driver._session is not None
    await claim(driver)  # the lane
    lane = driver._session.lane
    await asyncio.gather(produce(), *(work(f"w{i}") for i in range(4)))
    assert lane is driver._session.lane and lane is not None and lane.open
    assert len(done) == len(set(done)) == 120


def _policy(name: str, pattern: str, definition: str) -> None:
    subprocess.run(
        ["rabbitmqctl", "set_policy", "--apply-to", "queues", name, pattern, definition],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _clear_policy(name: str) -> None:
    subprocess.run(["rabbitmqctl", "clear_policy", name], capture_output=True, timeout=30)


@rabbitmq
async def test_a_nacked_enqueue_is_published_again_then_reported(
    backend: RabbitMQBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quorum queue nacks a publish it cannot take (a queue at its length limit
    here; a busy or moving leader in CI): the driver publishes the nacked messages
    again, backing off, and reports what stays unconfirmed. (RabbitMQ keeps applying
    a cleared length limit for seconds, so a retry that lands is not staged here.)"""
    driver = await backend.new_driver()
    queue = "nacky"
    await driver.enqueue([make_job(queue)])  # declares the queue
    name = f"atq-test-{backend.namespace}"
    pattern = "^" + re.escape(f"{backend.prefix}.{queue}.") + "p"
    _policy(name, pattern, '{"max-length": 0, "overflow": "reject-publish"}')
    monkeypatch.setattr(rabbitmq_driver, "NACK_BACKOFF", 0.2)  # tries after 0.2, 0.4, 0.8 s
    try:
        started = time.monotonic()
        # every try is nacked: the error names what was not stored
        with pytest.raises(DriverError, match="did not confirm 1 of 1 job"):
            await driver.enqueue([make_job(queue)])
        # it was published again NACK_RETRIES times, backing off, before giving up
        assert time.monotonic() - started >= 0.2 + 0.4 + 0.8
    finally:
        _clear_policy(name)
