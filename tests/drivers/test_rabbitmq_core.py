"""The RabbitMQ driver's lifecycle, observed through the core alone.

The contract suite checks most outcomes by reading jobs back (Inspection), which
RabbitMQ cannot offer; these tests prove the same behaviours with what a core-only
driver shows: what claims return (attempts, errors, timing), what recovery reports,
and what lands in a queue's dead letters.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, Driver
from asynctasq.drivers.rabbitmq import RabbitMQDriver
from asynctasq.drivers.rabbitmq.envelope import decode
from asynctasq.jobs import Completed, Failed, Job, JobState, Recovery, Released, Retried, new_job_id
from tests.backends_rabbitmq import RabbitMQBackend
from tests.conftest import only_backends

W1, W2 = "worker-1", "worker-2"

rabbitmq = only_backends("rabbitmq")


def make_job(queue: str = "default", **fields: object) -> Job:
    return Job(task="tests.noop", payload=b"\x81\xa4args\x80", queue=queue, **fields)  # type: ignore[arg-type]


async def claim(driver: Driver, queues: list[str] | None = None, **kw: object) -> list[Job]:
    opts: dict[str, object] = {"limit": 100, "worker_id": W1, "lease_seconds": 30.0}
    opts.update(kw)
    return await driver.reserve(queues or ["default"], **opts)  # type: ignore[arg-type]


@rabbitmq
async def test_retry_waits_for_its_run_at_and_comes_back_with_the_error(
    backend: RabbitMQBackend,
) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job(max_attempts=3)])
    (job,) = await claim(driver)
    due = time.time() + 0.4
    assert await driver.retry(job, due, "ValueError: boom")
    assert await claim(driver) == []
    (again,) = await claim(driver, wait=3.0)
    assert time.time() >= due
    assert (again.id, again.attempts, again.error) == (job.id, 2, "ValueError: boom")
    assert again.state is JobState.ACTIVE and again.worker_id == W1


@rabbitmq
async def test_a_retry_past_max_attempts_is_handed_out_again(backend: RabbitMQBackend) -> None:
    # the worker decides when attempts run out; a Retried outcome beyond them is its
    # call, and the job comes back as on every broker (it was once taken for a lost
    # last attempt and dead-lettered at the next claim)
    driver = await backend.new_driver()
    await driver.enqueue([make_job(max_attempts=1)])
    (job,) = await claim(driver)
    assert await driver.retry(job, time.time() - 5, "ValueError: again")
    (again,) = await claim(driver, worker_id=W2, wait=3.0)
    assert (again.id, again.attempts, again.worker_id) == (job.id, 2, W2)
    assert (await driver.recover_expired()).dead == ()
    assert await driver.complete(again)


@rabbitmq
async def test_fail_dead_letters_the_job_with_its_error(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job("mail", priority=3, timeout=9.0)])
    (job,) = await claim(driver, ["mail"])
    assert await driver.fail(job, "KeyError: 'x'\n\nTraceback ...")
    assert await claim(driver, ["mail"]) == []
    ((body, headers),) = await backend.dead_letters("mail")
    dead, attempts = decode(body)
    assert (dead.id, dead.queue, dead.priority, dead.timeout, attempts) == (
        job.id,
        "mail",
        3,
        9.0,
        1,
    )
    assert dead.error == "KeyError: 'x'\n\nTraceback ..." and dead.finished_at is not None
    assert headers["atq-error"] == dead.error


@rabbitmq
async def test_complete_acknowledges_for_good(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job()])
    (job,) = await claim(driver)
    assert await driver.complete(job)
    await driver.disconnect()  # an acknowledged delivery never comes back
    other = await backend.new_driver()
    assert await claim(other) == []
    assert await backend.dead_letters() == []


@rabbitmq
async def test_a_mixed_batch_applies_each_outcome(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job(max_attempts=2) for _ in range(4)])
    a, b, c, d = await claim(driver)
    outcomes = [
        Completed(a.id, W1, 1, result=b"ok"),
        Retried(b.id, W1, 1, run_at=time.time() + 60, error="later"),
        Failed(c.id, W1, 1, error="dead"),
        Released(d.id, W1, 1),
        Completed(a.id, W1, 1),  # twice in one batch: the second is refused
    ]
    assert await driver.settle(outcomes) == [True, True, True, True, False]
    (released,) = await claim(driver, worker_id=W2)
    assert (released.id, released.attempts) == (d.id, 1)  # a release does not count
    assert [decode(body)[0].id for body, _ in await backend.dead_letters()] == [c.id]
    assert await driver.settle([]) == []


@rabbitmq
async def test_outcomes_are_fenced_by_holder_worker_and_attempt(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver()
    other = await backend.new_driver()  # another connection of this process
    await driver.enqueue([make_job()])
    (job,) = await claim(driver)
    wrong = [
        Completed(job.id, W2, job.attempts),
        Failed(job.id, W1, job.attempts + 1, error="x"),
        Retried(job.id, W1, job.attempts - 1, run_at=time.time(), error="x"),
        Completed(new_job_id(), W1, 1),
    ]
    assert await driver.settle(wrong) == [False, False, False, False]
    assert await other.settle([Completed(job.id, W1, job.attempts)]) == [False]
    assert await driver.settle([Completed(job.id, W1, job.attempts)]) == [True]
    assert await driver.settle([Completed(job.id, W1, job.attempts)]) == [False]


@rabbitmq
async def test_a_lapsed_lease_returns_the_job_and_counts_the_attempt(
    backend: RabbitMQBackend,
) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job(max_attempts=3), make_job(max_attempts=3)])
    (mine,) = await claim(driver, limit=1, lease_seconds=0.3)
    (theirs,) = await claim(driver, limit=1, worker_id=W2, lease_seconds=0.3)
    assert await driver.renew(W1, [mine.id, theirs.id, new_job_id()], 30.0) == [mine.id]
    assert await driver.recover_expired() == Recovery()
    await asyncio.sleep(0.4)
    assert await driver.recover_expired() == Recovery(requeued=1)
    assert await driver.renew(W2, [theirs.id], 30.0) == []
    assert not await driver.complete(theirs)
    (again,) = await claim(driver, worker_id=W2)
    assert (again.id, again.attempts) == (theirs.id, 2)
    assert await driver.complete(mine)  # renewed: still held
    assert await driver.complete(again)


@rabbitmq
async def test_another_connection_of_the_process_renews_the_lease(
    backend: RabbitMQBackend,
) -> None:
    """The worker renews from a thread with a connection of its own."""
    driver = await backend.new_driver()
    renewer = await backend.new_driver()
    await driver.enqueue([make_job()])
    (job,) = await claim(driver, lease_seconds=0.3)
    assert await renewer.renew(W1, [job.id], 30.0) == [job.id]
    await asyncio.sleep(0.4)
    assert await driver.recover_expired() == Recovery()
    assert await driver.complete(job)


@rabbitmq
async def test_the_last_attempt_lapsing_dead_letters_the_job(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job("mail", max_attempts=2, priority=3, timeout=9.0)])
    recoveries = []
    for _ in range(2):
        assert len(await claim(driver, ["mail"], lease_seconds=0.1)) == 1
        await asyncio.sleep(0.2)
        recoveries.append(await driver.recover_expired())
    assert recoveries[0] == Recovery(requeued=1)
    (dead,) = recoveries[1].dead
    assert (dead.state, dead.attempts, dead.error) == (JobState.FAILED, 2, LEASE_EXPIRED_ERROR)
    assert (dead.priority, dead.timeout, dead.worker_id, dead.lease_until) == (3, 9.0, None, None)
    assert dead.finished_at is not None
    ((body, _),) = await backend.dead_letters("mail")
    assert decode(body)[0].error == LEASE_EXPIRED_ERROR
    assert await claim(driver, ["mail"]) == []


@rabbitmq
async def test_priority_bands_are_served_most_urgent_first(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver()
    now = time.time()
    later = [make_job(priority=p, run_at=now - 1) for p in (7, 1)]  # one band: > 0
    await driver.enqueue(later)  # one batch is published in claim order: 1, then 7
    normal = make_job(priority=0)
    urgent = [make_job("other", priority=-1, run_at=now - 5), make_job(priority=-8, run_at=now)]
    await driver.enqueue([normal, *urgent])
    got = await claim(driver, ["default", "other"])
    # bands: < 0, 0, > 0; across queues the earliest run_at first; in a queue FIFO
    assert [j.id for j in got] == [urgent[0].id, urgent[1].id, normal.id, later[1].id, later[0].id]


@rabbitmq
async def test_custom_priority_bands(backend: RabbitMQBackend) -> None:
    driver = await backend.new_driver(priority_bands=(0, 5, 10))
    jobs = [make_job(priority=p) for p in (12, 5, 7, 0, -3)]
    await driver.enqueue(jobs[:2])
    await driver.enqueue(jobs[2:])
    got = await claim(driver)
    assert [j.priority for j in got] == [-3, 0, 5, 7, 12]


@rabbitmq
@pytest.mark.parametrize("delay", [0.05, 0.3, 1.1])
async def test_a_delayed_job_starts_on_time_never_early(
    backend: RabbitMQBackend, delay: float
) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job(run_at=time.time() + 30)])  # declares the delay levels
    job = make_job(run_at=time.time() + delay)
    await driver.enqueue([job])
    (got,) = await claim(driver, wait=delay + 3)
    late = time.time() - job.run_at
    assert got.id == job.id
    assert 0 <= late < 0.3


@rabbitmq
async def test_an_early_arrival_waits_again(backend: RabbitMQBackend) -> None:
    """A job that arrives before its run_at (a publisher's clock ahead of ours, a
    delay longer than one trip through the delay queues) is delayed again."""
    from asynctasq.drivers.rabbitmq.envelope import encode

    driver = await backend.new_driver()
    await driver.enqueue([make_job()])  # declares the queues
    await driver.complete((await claim(driver))[0])
    early = make_job(run_at=time.time() + 0.4)
    await backend.publish_raw(f"{backend.prefix}.default.p1", encode(early, 0))
    assert await claim(driver) == []
    (got,) = await claim(driver, wait=3)
    assert got.id == early.id and time.time() >= early.run_at


@rabbitmq
async def test_what_it_cannot_do_is_refused_with_advice(backend: RabbitMQBackend) -> None:
    from asynctasq.drivers.base import TransactionalEnqueueUnsupported
    from asynctasq.drivers.capabilities import CapabilityMissing

    with pytest.raises(ValueError, match="cannot keep completed jobs"):
        RabbitMQDriver(backend.url, keep_completed=True)
    driver = await backend.new_driver()
    with pytest.raises(CapabilityMissing, match=r"UniqueKeys.*unique_key"):
        await driver.enqueue([make_job(), make_job(unique_key="once")])
    assert await claim(driver) == []  # nothing of the refused batch was published
    with pytest.raises(TransactionalEnqueueUnsupported):
        await driver.enqueue([make_job()], connection=object())


@rabbitmq
async def test_a_larger_claim_widens_the_prefetch(backend: RabbitMQBackend) -> None:
    """Consumers hold twice the largest claim so far: a claim is never short of jobs
    because the broker stopped sending them."""
    driver = await backend.new_driver()
    await driver.enqueue([make_job()])
    (first,) = await claim(driver, limit=1)  # prefetch 2
    await driver.enqueue([make_job() for _ in range(30)])
    assert len(await claim(driver, limit=30)) == 30  # prefetch 60
    assert await driver.complete(first)
