"""The driver contract: the checks every broker must pass unchanged.

Written against the memory driver (the reference) and run by
``asynctasq.testing.conformance`` on any :class:`Target`. Each check names the
capabilities it needs; on a driver that does not declare one, the check is skipped
and the skip says which driver lacks which capability. Timing-sensitive checks use
generous bounds: they prove a behaviour (wakes early, honours run_at), not a speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pytest

from asynctasq.drivers.base import LEASE_EXPIRED_ERROR, Driver
from asynctasq.drivers.capabilities import (
    Capability,
    Dependencies,
    Inspection,
    Management,
    Pausing,
    ProgressStore,
    UniqueKeys,
    WorkerRegistry,
)
from asynctasq.jobs import (
    Completed,
    Failed,
    Job,
    JobState,
    Recovery,
    Released,
    Retried,
    WorkerInfo,
    new_job_id,
)
from asynctasq.testing.conformance.target import Target

__all__ = ["CHECKS", "Check"]

W1, W2 = "worker-1", "worker-2"

Body = Callable[[Target], Awaitable[None]]


@dataclass(frozen=True)
class Check:
    """One contract check: its name, the capabilities it needs, its body."""

    name: str
    capabilities: tuple[type[Capability], ...]
    body: Body

    async def run(self, target: Target) -> None:
        """Run on ``target`` (set up already); skipped, by name, when the target's
        driver lacks a capability the check needs."""
        missing = target.lacks(*self.capabilities)
        if missing:
            pytest.skip(f"the {target.name} driver does not declare {', '.join(missing)}")
        await self.body(target)

    def __repr__(self) -> str:
        return f"<Check {self.name}>"


CHECKS: list[Check] = []


def check(*capabilities: type[Capability]) -> Callable[[Body], Body]:
    """Register a contract check needing ``capabilities``."""

    def register(body: Body) -> Body:
        CHECKS.append(Check(body.__name__, capabilities, body))
        return body

    return register


def make_job(queue: str = "default", **fields: object) -> Job:
    return Job(
        task=fields.pop("task", "tests.noop"),  # type: ignore[arg-type]
        payload=fields.pop("payload", b"\x81\xa4args\x80"),  # type: ignore[arg-type]
        queue=queue,
        **fields,  # type: ignore[arg-type]
    )


if TYPE_CHECKING:

    class FullDriver(Inspection, Management, Pausing, WorkerRegistry, ProgressStore, Driver):
        """What the checks call: each check runs only where its capabilities exist."""


async def connect(target: Target, **options: Any) -> FullDriver:
    return cast("FullDriver", await target.new_driver(**options))


async def reserve(driver: Driver, queues: list[str] | None = None, **kw: object) -> list[Job]:
    opts: dict[str, object] = {"limit": 100, "worker_id": W1, "lease_seconds": 30.0}
    opts.update(kw)
    return await driver.reserve(queues or ["default"], **opts)  # type: ignore[arg-type]


# -- enqueue and read back -----------------------------------------------------------


@check(Inspection, UniqueKeys)
async def enqueue_then_get_roundtrips_every_field(target: Target) -> None:
    driver = await connect(
        target,
    )
    now = time.time()
    job = make_job(
        "emails",
        task="app.tasks.SendEmail",
        payload=bytes(range(256)),
        priority=-5,
        max_attempts=7,
        timeout=12.5,
        unique_key="welcome:42",
        expires_at=now + 3600,
        # a broker that honours depends_on (Dependencies) refuses an unknown parent:
        # there the field's round trip is the dependency tests' (tests/drivers)
        depends_on=() if isinstance(driver, Dependencies) else (new_job_id(),),
    )
    assert await driver.enqueue([job]) == [job.id]
    got = await driver.get(job.id)
    assert got is not None
    assert (got.id, got.task, got.queue, got.payload) == (job.id, job.task, "emails", job.payload)
    assert (got.priority, got.max_attempts, got.attempts, got.timeout) == (-5, 7, 0, 12.5)
    assert got.unique_key == "welcome:42"
    assert got.depends_on == job.depends_on
    assert got.expires_at == pytest.approx(job.expires_at)
    assert got.run_at == pytest.approx(job.run_at)
    assert got.created_at == pytest.approx(job.created_at)
    assert got.state is JobState.PENDING
    assert got.worker_id is None and got.lease_until is None and got.error is None
    assert await driver.get(new_job_id()) is None


@check(Inspection)
async def bulk_enqueue_returns_ids_in_order(target: Target) -> None:
    driver = await connect(
        target,
    )
    jobs = [make_job(payload=str(i).encode()) for i in range(1000)]
    assert await driver.enqueue(jobs) == [j.id for j in jobs]
    assert (await driver.stats("default")).depth == 1000
    assert await driver.enqueue([]) == []


@check(Inspection)
async def connect_is_idempotent(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.connect()
    await driver.enqueue([make_job()])
    assert (await driver.stats("default")).depth == 1


# -- reserve -----------------------------------------------------------------------


@check()
async def reserve_takes_lowest_priority_value_then_oldest(target: Target) -> None:
    driver = await connect(
        target,
    )
    now = time.time()
    jobs = [
        make_job(priority=5, run_at=now - 3),
        make_job(priority=0, run_at=now - 1),
        make_job(priority=0, run_at=now - 2),
        make_job(priority=-1, run_at=now),
    ]
    await driver.enqueue(jobs)
    got = await reserve(driver, limit=3)
    assert [j.id for j in got] == [jobs[3].id, jobs[2].id, jobs[1].id]
    assert [j.id for j in await reserve(driver)] == [jobs[0].id]


@check(Inspection)
async def reserve_marks_jobs_active_and_leased(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job() for _ in range(5)])
    before = time.time()
    got = await reserve(driver, limit=2, lease_seconds=20.0)
    assert len(got) == 2
    for job in got:
        assert job.state is JobState.ACTIVE
        assert job.worker_id == W1
        assert job.attempts == 1
        assert job.lease_until is not None
        assert before + 19 <= job.lease_until <= time.time() + 21
        stored = await driver.get(job.id)
        assert stored is not None and stored.state is JobState.ACTIVE and stored.worker_id == W1
    stats = await driver.stats("default")
    assert (stats.depth, stats.processing) == (3, 2)


@check()
async def a_reserved_job_is_not_handed_out_again(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job() for _ in range(3)])
    first = await reserve(driver)
    assert len(first) == 3
    assert await reserve(driver, worker_id=W2) == []


@check(Inspection)
async def reserve_serves_only_the_given_queues_by_priority_across_them(
    target: Target,
) -> None:
    driver = await connect(
        target,
    )
    now = time.time()
    low = make_job("low", priority=10, run_at=now - 10)
    high = make_job("high", priority=1, run_at=now)
    other = make_job("other", priority=-100)
    await driver.enqueue([low, high, other])
    got = await reserve(driver, ["low", "high"], limit=1)
    assert [j.id for j in got] == [high.id]
    got = await reserve(driver, ["low", "high"])
    assert [j.id for j in got] == [low.id]
    assert (await driver.stats("other")).depth == 1


@check(Inspection)
async def delayed_job_is_scheduled_until_its_run_at(target: Target) -> None:
    driver = await connect(
        target,
    )
    job = make_job(run_at=time.time() + 0.6)
    await driver.enqueue([job])
    got = await driver.get(job.id)
    assert got is not None and got.state is JobState.SCHEDULED
    stats = await driver.stats("default")
    assert (stats.depth, stats.scheduled) == (0, 1)
    assert await reserve(driver) == []
    await asyncio.sleep(0.7)
    assert [j.id for j in await reserve(driver)] == [job.id]


@check()
async def reserve_waits_then_returns_nothing(target: Target) -> None:
    driver = await connect(
        target,
    )
    started = time.monotonic()
    assert await reserve(driver, wait=0.3) == []
    assert 0.25 <= time.monotonic() - started < 2.0


@check()
async def reserve_wakes_early_when_another_connection_enqueues(target: Target) -> None:
    consumer = await connect(
        target,
    )
    producer = await connect(
        target,
    )
    waiter = asyncio.create_task(reserve(consumer, wait=10.0))
    await asyncio.sleep(0.2)
    job = make_job()
    enqueued = time.monotonic()
    await producer.enqueue([job])
    got = await asyncio.wait_for(waiter, 5)
    assert [j.id for j in got] == [job.id]
    assert time.monotonic() - enqueued < 1.0


@check()
async def reserve_wakes_when_a_delayed_job_comes_due(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job(run_at=time.time() + 0.5)])
    started = time.monotonic()
    got = await reserve(driver, wait=30.0)
    assert len(got) == 1
    # woken by the due job (0.7 s on a quiet host), not by the end of its 30 s wait: the
    # bound leaves room for a loaded 2-core CI host, where RabbitMQ's several delay-queue
    # hops (quorum queues) took over 3 s
    waited = time.monotonic() - started
    assert 0.4 <= waited < 10.0, f"reserve returned after {waited:.2f} s"


@check(Pausing, Inspection)
async def paused_queue_is_not_served_until_resumed(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job("q1"), make_job("q2")])
    await driver.pause("q1")
    assert (await driver.stats("q1")).paused
    got = await reserve(driver, ["q1", "q2"])
    assert [j.queue for j in got] == ["q2"]
    await driver.resume("q1")
    assert not (await driver.stats("q1")).paused
    assert [j.queue for j in await reserve(driver, ["q1"])] == ["q1"]


# -- outcomes ------------------------------------------------------------------------


@check(Inspection)
async def complete_removes_the_job_by_default(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job()])
    (job,) = await reserve(driver)
    assert await driver.complete(job, b"result")
    assert await driver.get(job.id) is None
    stats = await driver.stats("default")
    assert (stats.depth, stats.processing, stats.completed) == (0, 0, 0)


@check(Inspection)
async def complete_keeps_job_and_result_when_asked(target: Target) -> None:
    driver = await connect(target, keep_completed=True)
    await driver.enqueue([make_job()])
    (job,) = await reserve(driver)
    assert await driver.complete(job, b"\x00result")
    got = await driver.get(job.id)
    assert got is not None
    assert got.state is JobState.COMPLETED
    assert got.result == b"\x00result"
    assert got.finished_at is not None
    assert (await driver.stats("default")).completed == 1


@check(Inspection)
async def retry_reschedules_with_the_error(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job(max_attempts=3)])
    (job,) = await reserve(driver)
    assert await driver.retry(job, time.time() + 0.4, "ValueError: boom")
    got = await driver.get(job.id)
    assert got is not None
    assert got.state is JobState.SCHEDULED
    assert got.error == "ValueError: boom"
    assert got.attempts == 1 and got.worker_id is None
    assert await reserve(driver) == []
    await asyncio.sleep(0.5)
    (again,) = await reserve(driver)
    assert again.id == job.id and again.attempts == 2


@check(Inspection, Management)
async def fail_dead_letters_and_requeue_brings_it_back(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job()])
    (job,) = await reserve(driver)
    assert await driver.fail(job, "KeyError: 'x'\n\nTraceback ...")
    got = await driver.get(job.id)
    assert got is not None
    assert got.state is JobState.FAILED
    assert got.error == "KeyError: 'x'\n\nTraceback ..."
    assert got.finished_at is not None
    assert (await driver.stats("default")).failed == 1
    assert [j.id for j in await driver.list_jobs("default", JobState.FAILED)] == [job.id]
    assert await driver.requeue(job.id)
    assert not await driver.requeue(job.id)  # already pending
    (again,) = await reserve(driver)
    assert again.id == job.id and again.attempts == 1


@check()
async def release_returns_the_job_at_once_without_counting_the_attempt(
    target: Target,
) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job()])
    (job,) = await reserve(driver)
    assert await driver.release(job)
    (again,) = await reserve(driver, worker_id=W2)
    assert again.id == job.id
    assert again.attempts == 1


@check(Inspection)
async def settle_applies_a_mixed_batch(target: Target) -> None:
    driver = await connect(target, keep_completed=True)
    await driver.enqueue([make_job(max_attempts=2) for _ in range(4)])
    a, b, c, d = await reserve(driver)
    outcomes = [
        Completed(a.id, W1, 1, result=b"ok"),
        Retried(b.id, W1, 1, run_at=time.time() + 60, error="later"),
        Failed(c.id, W1, 1, error="dead"),
        Released(d.id, W1, 1),
    ]
    assert await driver.settle(outcomes) == [True, True, True, True]
    states = [(await driver.get(j.id)).state for j in (a, b, c, d)]  # type: ignore[union-attr]
    assert states == [JobState.COMPLETED, JobState.SCHEDULED, JobState.FAILED, JobState.PENDING]
    assert await driver.settle([]) == []


@check(Inspection)
async def outcomes_are_fenced_by_worker_and_attempt(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job()])
    (job,) = await reserve(driver)
    wrong = [
        Completed(job.id, W2, job.attempts),
        Failed(job.id, W1, job.attempts + 1, error="x"),
        Retried(job.id, W1, job.attempts - 1, run_at=time.time(), error="x"),
        Completed(new_job_id(), W1, 1),
    ]
    assert await driver.settle(wrong) == [False, False, False, False]
    got = await driver.get(job.id)
    assert got is not None and got.state is JobState.ACTIVE
    assert await driver.settle([Completed(job.id, W1, job.attempts)]) == [True]
    assert await driver.settle([Completed(job.id, W1, job.attempts)]) == [False]  # once only


@check()
async def a_stale_worker_cannot_settle_after_its_job_was_taken_over(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job(max_attempts=3)])
    (stale,) = await reserve(driver, lease_seconds=0.2)
    await asyncio.sleep(0.3)
    assert await driver.recover_expired() == Recovery(requeued=1)
    (fresh,) = await reserve(driver, worker_id=W2)
    assert fresh.id == stale.id and fresh.attempts == 2
    assert not await driver.complete(stale)
    assert not await driver.fail(stale, "late")
    assert await driver.renew(W1, [stale.id], 30) == []
    assert await driver.complete(fresh)


@check()
async def the_same_worker_cannot_settle_an_attempt_it_lost(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job(max_attempts=3)])
    (first,) = await reserve(driver, lease_seconds=0.2)
    await asyncio.sleep(0.3)
    await driver.recover_expired()
    (second,) = await reserve(driver)  # same worker id, new attempt
    assert not await driver.complete(first)
    assert await driver.complete(second)


# -- leases ---------------------------------------------------------------------------


@check(Inspection)
async def renew_extends_only_leases_the_worker_holds(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job(), make_job()])
    (mine,) = await reserve(driver, limit=1, lease_seconds=0.5)
    (theirs,) = await reserve(driver, limit=1, worker_id=W2, lease_seconds=0.5)
    held = await driver.renew(W1, [mine.id, theirs.id, new_job_id()], 30.0)
    assert held == [mine.id]
    await asyncio.sleep(0.7)
    assert (await driver.recover_expired()).moved == 1  # only theirs lapsed
    got = await driver.get(mine.id)
    assert got is not None and got.state is JobState.ACTIVE
    assert got.lease_until is not None and got.lease_until > time.time() + 20
    assert await driver.renew(W1, [], 30.0) == []


@check(Inspection)
async def recover_expired_returns_jobs_and_counts_the_attempt(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job(max_attempts=2)])
    (job,) = await reserve(driver, lease_seconds=0.2)
    assert await driver.recover_expired() == Recovery()
    await asyncio.sleep(0.3)
    recovery = await driver.recover_expired()
    assert (recovery.requeued, recovery.dead, recovery.moved) == (1, (), 1)
    got = await driver.get(job.id)
    assert got is not None
    assert got.state is JobState.PENDING and got.attempts == 1 and got.worker_id is None
    (again,) = await reserve(driver)
    assert again.attempts == 2


@check(Inspection)
async def a_job_that_keeps_losing_its_worker_is_dead_lettered(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job(max_attempts=2)])
    moved = []
    for _ in range(2):
        assert len(await reserve(driver, lease_seconds=0.1)) == 1
        await asyncio.sleep(0.2)
        moved.append((await driver.recover_expired()).moved)
    assert moved == [1, 1]
    (job,) = await driver.list_jobs("default", JobState.FAILED)
    assert job.error == LEASE_EXPIRED_ERROR
    assert job.attempts == 2
    assert await reserve(driver) == []


@check(Inspection)
async def recovery_returns_the_records_of_the_jobs_it_dead_lettered(
    target: Target,
) -> None:
    driver = await connect(
        target,
    )
    other = await connect(
        target,
    )  # another worker's connection
    payload = b"\x81\xa4args\x81\xa1n\x07"
    last = make_job(max_attempts=1, queue="mail", payload=payload, priority=3, timeout=9.0)
    again = make_job(max_attempts=2, queue="mail")
    kept = make_job(max_attempts=1)
    await driver.enqueue([last, again, kept])
    assert len(await reserve(driver, ["mail"], limit=2, lease_seconds=0.2)) == 2
    await reserve(driver, limit=1, worker_id=W2, lease_seconds=30)  # renewed: stays
    await asyncio.sleep(0.3)
    recovery = await driver.recover_expired()
    assert (recovery.requeued, recovery.moved) == (1, 2)
    (dead,) = recovery.dead
    assert (dead.id, dead.task, dead.queue, dead.payload) == (last.id, last.task, "mail", payload)
    assert (dead.priority, dead.timeout, dead.created_at) == (3, 9.0, last.created_at)
    assert (dead.state, dead.attempts, dead.max_attempts) == (JobState.FAILED, 1, 1)
    assert (dead.error, dead.worker_id, dead.lease_until) == (LEASE_EXPIRED_ERROR, None, None)
    assert dead.finished_at is not None
    assert dead == await driver.get(last.id)  # as stored
    # only the call that moved a job reports it: a second sweep has nothing to say
    assert await other.recover_expired() == Recovery()
    assert await driver.recover_expired() == Recovery()


# -- operator side --------------------------------------------------------------------


@check(Inspection, Management)
async def stats_count_every_state(target: Target) -> None:
    driver = await connect(target, keep_completed=True)
    now = time.time()
    await driver.enqueue([make_job() for _ in range(5)] + [make_job(run_at=now + 60)])
    a, b, _ = await reserve(driver, limit=3)
    await driver.complete(a)
    await driver.fail(b, "x")
    await driver.enqueue([cancel := make_job()])
    await driver.cancel(cancel.id)
    stats = await driver.stats("default")
    assert stats.queue == "default"
    assert (stats.depth, stats.processing, stats.scheduled) == (2, 1, 1)
    assert (stats.completed, stats.failed, stats.cancelled) == (1, 1, 1)
    assert not stats.paused
    assert (await driver.get_queue_stats("default")).depth == 2
    empty = await driver.stats("never-used")
    assert (empty.depth, empty.processing, empty.failed) == (0, 0, 0)


@check(Inspection)
async def list_jobs_filters_by_state_and_pages(target: Target) -> None:
    driver = await connect(
        target,
    )
    now = time.time()
    pending = [make_job(run_at=now - 10 + i) for i in range(5)]
    later = make_job(run_at=now + 60)
    await driver.enqueue([*pending, later, make_job("elsewhere")])
    listed = await driver.list_jobs("default", JobState.PENDING)
    assert [j.id for j in listed] == [j.id for j in pending]
    page = await driver.list_jobs("default", JobState.PENDING, limit=2, offset=2)
    assert [j.id for j in page] == [j.id for j in pending[2:4]]
    assert [j.id for j in await driver.list_jobs("default", JobState.SCHEDULED)] == [later.id]
    assert len(await driver.list_jobs("default")) == 6
    (active,) = await reserve(driver, limit=1)
    assert [j.id for j in await driver.list_jobs("default", JobState.ACTIVE)] == [active.id]


@check(Management, Inspection)
async def cancel_only_stops_jobs_that_have_not_started(target: Target) -> None:
    driver = await connect(
        target,
    )
    waiting, delayed, running = make_job(), make_job(run_at=time.time() + 60), make_job(priority=-1)
    await driver.enqueue([waiting, delayed, running])
    (started,) = await reserve(driver, limit=1)
    assert started.id == running.id
    assert not await driver.cancel(running.id)
    assert await driver.cancel(waiting.id)
    assert await driver.cancel(delayed.id)
    assert not await driver.cancel(waiting.id)
    assert not await driver.cancel(new_job_id())
    got = await driver.get(waiting.id)
    assert got is not None and got.state is JobState.CANCELLED
    assert await reserve(driver) == []
    assert await driver.requeue(waiting.id)
    assert [j.id for j in await reserve(driver)] == [waiting.id]


@check(Management, Inspection)
async def purge_by_state_and_age(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job() for _ in range(3)])
    jobs = await reserve(driver)
    for job in jobs:
        await driver.fail(job, "x")
    cutoff = time.time() + 1
    await driver.enqueue([make_job(), make_job(run_at=time.time() + 60)])
    assert await driver.purge("default", JobState.FAILED, older_than=time.time() - 3600) == 0
    assert await driver.purge("default", JobState.FAILED, older_than=cutoff) == 3
    assert await driver.purge("default", JobState.SCHEDULED) == 1
    assert (await driver.stats("default")).depth == 1
    assert await driver.purge("default", JobState.PENDING) == 1
    with pytest.raises(ValueError):
        await driver.purge("default", JobState.ACTIVE)


@check(UniqueKeys, Inspection)
async def unique_key_holds_one_unfinished_job(target: Target) -> None:
    driver = await connect(
        target,
    )
    first = make_job(unique_key="report:2026-11-24")
    dup = make_job(unique_key="report:2026-11-24")
    assert await driver.enqueue([first]) == [first.id]
    assert await driver.enqueue([dup, other := make_job()]) == [first.id, other.id]
    assert (await driver.stats("default")).depth == 2
    (job, _) = await reserve(driver)
    assert await driver.enqueue([dup]) == [first.id]  # still active
    await driver.complete(job)
    assert await driver.enqueue([dup]) == [dup.id]  # finished: the key is free


@check(Inspection, Pausing)
async def queues_lists_every_queue_used(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job("b"), make_job("a")])
    await driver.pause("c")
    assert {"a", "b", "c"} <= set(await driver.queues())


@check(ProgressStore, Inspection)
async def progress_is_recorded_for_the_holder_only(target: Target) -> None:
    driver = await connect(
        target,
    )
    await driver.enqueue([make_job()])
    (job,) = await reserve(driver)
    assert await driver.set_progress(job.id, W1, 0.25)
    assert not await driver.set_progress(job.id, W2, 0.5)
    got = await driver.get(job.id)
    assert got is not None and got.progress == pytest.approx(0.25)


@check(WorkerRegistry)
async def worker_registry_tracks_heartbeats(target: Target) -> None:
    driver = await connect(
        target,
    )
    info = WorkerInfo("w-a", "host", 123, ("default", "emails"), 10, active=3, started_at=1.0)
    await driver.heartbeat(info, ttl=30)
    await driver.heartbeat(WorkerInfo("w-b", "host", 124, ("default",), 5), ttl=0.2)
    workers = await driver.list_workers()
    assert [w.worker_id for w in workers] == ["w-a", "w-b"]
    a = workers[0]
    assert (a.host, a.pid, a.queues, a.concurrency, a.active) == (
        "host",
        123,
        ("default", "emails"),
        10,
        3,
    )
    assert a.last_seen > 0
    await asyncio.sleep(0.3)
    assert [w.worker_id for w in await driver.list_workers()] == ["w-a"]
    await driver.remove_worker("w-a")
    assert await driver.list_workers() == []


# -- concurrency ----------------------------------------------------------------------


@check()
async def concurrent_reservers_never_share_a_job(target: Target) -> None:
    producer = await connect(
        target,
    )
    total = 400
    await producer.enqueue([make_job(payload=str(i).encode()) for i in range(total)])
    consumers = [
        await connect(
            target,
        )
        for _ in range(4)
    ]
    seen: list[str] = []

    async def consume(driver: Driver, worker: str) -> None:
        while True:
            jobs = await driver.reserve(["default"], limit=7, worker_id=worker, lease_seconds=30)
            if not jobs:
                return
            seen.extend(j.id for j in jobs)
            assert all(await driver.settle([Completed(j.id, worker, j.attempts) for j in jobs]))

    await asyncio.wait_for(
        asyncio.gather(*(consume(d, f"w{i}") for i, d in enumerate(consumers))), 60
    )
    assert len(seen) == total
    assert len(set(seen)) == total
