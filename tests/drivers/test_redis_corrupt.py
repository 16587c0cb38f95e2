"""Redis: one corrupt job record never harms another (issue 13, defect 2).

On 0.1.0 reserve.lua popped a batch from the ready set, then raised on the corrupt
record: the other jobs of the batch were in no set at all. Every script that reads
a record now checks it (decode() in lua/_prelude.lua), dead-letters a corrupt one
with a reason naming the fault (bury()) and carries on; Python checks the data part
the scripts never read (redis/records.py). The damages are tests/hostile/corrupt_redis.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgpack
import pytest
import redis.asyncio as redis
from hypothesis import given, settings
from hypothesis import strategies as st

from asynctasq.drivers.base import Driver
from asynctasq.drivers.keys import QUEUE_KEYS
from asynctasq.drivers.redis import RedisDriver
from asynctasq.drivers.redis.records import CORRUPT, UNREADABLE_TASK, read_job
from asynctasq.drivers.redis.scripts import LUA_DIR, Call
from asynctasq.jobs import Job, JobState, WorkerInfo
from asynctasq.testing.conformance.contract import W1, make_job, reserve
from tests.backends import Backend
from tests.backends_redis import local_redis_url
from tests.conftest import only_backends
from tests.hostile.corrupt_redis import DAMAGES, Damage, split_record

REDIS = ("redis", "redis-cluster")
GARBAGE = DAMAGES[0]
assert GARBAGE.name == "garbage bytes"


def _key(driver: Driver, kind: str, queue: str = "default") -> str:
    return driver.keys.queue(queue)[QUEUE_KEYS.index(kind)]  # type: ignore[attr-defined, no-any-return]


def _client(driver: Driver) -> Any:
    assert isinstance(driver, RedisDriver)
    return driver.client


async def _damage(driver: Driver, job: Job, damage: Damage = GARBAGE) -> None:
    jobs = _key(driver, "jobs", job.queue)
    record = await _client(driver).hget(jobs, job.id)
    assert record is not None
    await _client(driver).hset(jobs, job.id, damage.mangle(record))


async def _assert_dead(driver: Driver, job: Job, reason: str) -> Job:
    got = await driver.get(job.id)
    assert got is not None, f"job {job.id} is gone"
    assert got.state is JobState.FAILED, got
    assert got.error is not None and got.error.startswith(CORRUPT), got.error
    assert reason in got.error, (reason, got.error)
    failed = await driver.list_jobs(job.queue, JobState.FAILED)
    assert job.id in {j.id for j in failed}
    return got


async def _five(driver: Driver, **fields: Any) -> list[Job]:
    jobs = [make_job(payload=f"p{i}".encode(), **fields) for i in range(5)]
    await driver.enqueue(jobs)
    return jobs


# -- claims ------------------------------------------------------------------------------


@only_backends(*REDIS)
@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
async def test_a_corrupt_record_in_a_claim_is_dead_lettered_and_the_rest_served(
    backend: Backend, damage: Damage
) -> None:
    driver = await backend.new_driver()
    jobs = await _five(driver)
    victim = jobs[2]
    await _damage(driver, victim, damage)
    got = await reserve(driver)
    assert sorted(j.id for j in got) == sorted(j.id for j in jobs if j is not victim)
    dead = await _assert_dead(driver, victim, damage.reason)
    stats = await driver.stats("default")
    assert (stats.depth, stats.processing, stats.failed) == (0, 4, 1)
    assert len(await driver.list_jobs("default")) == 5  # every job accounted for
    if damage.python_only:
        assert dead.task == UNREADABLE_TASK or dead.payload  # the bytes kept for forensics
    for job in got:
        assert await driver.complete(job)


@only_backends(*REDIS)
async def test_a_claim_of_only_corrupt_jobs_goes_on_to_the_good_ones(backend: Backend) -> None:
    """The data part is Python's to read: a claim that gets only such jobs buries
    them and claims again at once, instead of waiting as if the queue were empty."""
    driver = await backend.new_driver()
    bad = [make_job(priority=0) for _ in range(3)]
    good = make_job(priority=5)
    await driver.enqueue([*bad, good])
    python_only = next(d for d in DAMAGES if d.python_only)
    for job in bad:
        await _damage(driver, job, python_only)
    started = time.monotonic()
    got = await reserve(driver, limit=3, wait=5.0)
    assert [j.id for j in got] == [good.id]
    assert time.monotonic() - started < 2.0
    for job in bad:
        await _assert_dead(driver, job, python_only.reason)


@only_backends(*REDIS)
async def test_a_due_scheduled_job_with_a_corrupt_record_is_dead_lettered_when_promoted(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    jobs = await _five(driver, run_at=time.time() + 0.3)
    await _damage(driver, jobs[0])
    await asyncio.sleep(0.4)
    got = await reserve(driver)
    assert sorted(j.id for j in got) == sorted(j.id for j in jobs[1:])
    await _assert_dead(driver, jobs[0], GARBAGE.reason)


@only_backends("redis")
async def test_peek_meets_a_corrupt_scheduled_record_without_failing(backend: Backend) -> None:
    """peek.lua (phase one of a claim across Cluster slots) promotes too."""
    driver = await backend.new_driver()
    assert isinstance(driver, RedisDriver)
    jobs = await _five(driver, run_at=time.time() + 0.2)
    await _damage(driver, jobs[1])
    await asyncio.sleep(0.3)
    call = Call("peek", driver.keys.queue("default"), [repr(time.time()), 10, 1000])
    reply = await driver._scripts.run(call)
    assert reply[2] == 4  # the four sound jobs are ready
    await _assert_dead(driver, jobs[1], GARBAGE.reason)


@only_backends(*REDIS)
async def test_a_queued_id_without_a_record_is_dead_lettered(backend: Backend) -> None:
    driver = await backend.new_driver()
    jobs = await _five(driver)
    await _client(driver).hdel(_key(driver, "jobs"), jobs[3].id)
    got = await reserve(driver)
    assert len(got) == 4
    await _assert_dead(driver, jobs[3], "the record is missing (its id was still queued)")


# -- every other script that reads a record ----------------------------------------------


@only_backends(*REDIS)
async def test_settle_applies_the_batch_around_a_corrupt_record(backend: Backend) -> None:
    driver = await backend.new_driver(keep_completed=True)
    await _five(driver)
    got = await reserve(driver)
    await _damage(driver, got[1])
    from asynctasq.jobs import Completed

    outcomes = [Completed(j.id, W1, j.attempts, queue=j.queue, result=b"r") for j in got]
    assert await driver.settle(outcomes) == [True, False, True, True, True]
    await _assert_dead(driver, got[1], GARBAGE.reason)
    assert (await driver.stats("default")).completed == 4


@only_backends(*REDIS)
async def test_renew_extends_the_other_leases(backend: Backend) -> None:
    driver = await backend.new_driver()
    await _five(driver)
    got = await reserve(driver)
    await _damage(driver, got[0])
    held = await driver.renew(W1, [j.id for j in got], 30.0)
    assert held == [j.id for j in got[1:]]
    await _assert_dead(driver, got[0], GARBAGE.reason)


@only_backends(*REDIS)
async def test_recover_returns_the_other_expired_jobs(backend: Backend) -> None:
    driver = await backend.new_driver()
    await _five(driver, max_attempts=3)
    got = await reserve(driver, lease_seconds=0.1)
    await _damage(driver, got[4])
    await asyncio.sleep(0.2)
    await driver.recover_expired()
    again = await reserve(driver)
    assert sorted(j.id for j in again) == sorted(j.id for j in got[:4])
    await _assert_dead(driver, got[4], GARBAGE.reason)


@only_backends(*REDIS)
async def test_cancel_requeue_and_progress_refuse_a_corrupt_record(backend: Backend) -> None:
    driver = await backend.new_driver()
    jobs = await _five(driver)
    await _damage(driver, jobs[0])
    assert not await driver.cancel(jobs[0].id)
    await _assert_dead(driver, jobs[0], GARBAGE.reason)
    got = await reserve(driver)
    await _damage(driver, got[0])
    assert not await driver.set_progress(got[0].id, W1, 0.5)
    await _assert_dead(driver, got[0], GARBAGE.reason)
    assert await driver.fail(got[1], "boom")
    await _damage(driver, got[1])
    assert not await driver.requeue(got[1].id)
    await _assert_dead(driver, got[1], GARBAGE.reason)
    assert await driver.set_progress(got[2].id, W1, 0.5)  # the others are unharmed


@only_backends(*REDIS)
async def test_get_and_list_report_a_corrupt_record_as_dead_lettered(backend: Backend) -> None:
    driver = await backend.new_driver()
    jobs = await _five(driver)
    await _damage(driver, jobs[2])
    listed = await driver.list_jobs("default", JobState.PENDING)
    assert [j.id for j in listed if j.state is JobState.PENDING] == [
        j.id for j in jobs if j is not jobs[2]
    ]
    dead = await _assert_dead(driver, jobs[2], GARBAGE.reason)
    assert dead.payload == GARBAGE.mangle(b""), "the unreadable bytes are kept"
    assert dead.task == UNREADABLE_TASK


@only_backends(*REDIS)
async def test_purge_goes_on_past_a_corrupt_record(backend: Backend) -> None:
    driver = await backend.new_driver()
    jobs = await _five(driver)
    await _damage(driver, jobs[1])
    assert await driver.purge("default", JobState.PENDING) == 4
    await _assert_dead(driver, jobs[1], GARBAGE.reason)


@only_backends(*REDIS)
async def test_a_corrupt_data_part_is_reported_by_get_and_list_without_raising(
    backend: Backend,
) -> None:
    """Only Python reads the data part: get() and list_jobs() give a stand-in job
    whose error names the fault, instead of raising for the whole listing."""
    driver = await backend.new_driver()
    jobs = await _five(driver)
    damage = next(d for d in DAMAGES if d.name == "payload is text")
    await _damage(driver, jobs[0], damage)
    got = await driver.get(jobs[0].id)
    assert got is not None and got.state is JobState.PENDING
    assert got.error is not None and got.error.startswith(CORRUPT + "field payload")
    assert len(await driver.list_jobs("default")) == 5


# -- the audit: records no set holds -------------------------------------------------------


@only_backends(*REDIS)
async def test_the_audit_dead_letters_a_waiting_record_no_set_holds(backend: Backend) -> None:
    driver = await backend.new_driver(keep_completed=True)
    jobs = await _five(driver)
    (done,) = await reserve(driver, limit=1)
    assert await driver.complete(done)
    lost = jobs[3]
    await _client(driver).zrem(_key(driver, "ready"), await _entry(driver, lost))
    await _client(driver).zrem(_key(driver, "completed"), done.id)
    await driver.recover_expired()
    await _assert_dead(driver, lost, "the record is in no queue set (its pending entry")
    kept = await driver.list_jobs("default", JobState.COMPLETED)
    assert [j.id for j in kept] == [done.id]  # a finished one goes back into its set
    assert len(await reserve(driver)) == 3


async def _entry(driver: Driver, job: Job) -> str:
    from asynctasq.drivers.redis.codec import run_key

    got = await driver.get(job.id)
    assert got is not None
    return run_key(got.run_at) + job.id


# -- Python and Lua agree on what is corrupt ------------------------------------------------

PRELUDE = (LUA_DIR / "_prelude.lua").read_text()
VERDICT = PRELUDE + "\nlocal m, d, fault = decode(ARGV[1])\nreturn fault or 'sound'"


async def test_python_and_lua_find_the_same_faults() -> None:
    sound = make_job()
    from asynctasq.drivers.redis.codec import enqueue_args

    record: bytes = enqueue_args([sound], time.time())[4]
    client = redis.Redis.from_url(local_redis_url())
    try:
        assert await client.eval(VERDICT, 0, record) == b"sound"  # type: ignore[misc]
        assert read_job("default", b"id", record, None).fault is None
        for damage in DAMAGES:
            damaged = damage.mangle(record)
            lua = (await client.eval(VERDICT, 0, damaged)).decode()  # type: ignore[misc]
            python = read_job("default", b"id", damaged, None).fault
            assert python is not None and damage.reason in CORRUPT + python, (damage, python)
            if damage.python_only:
                assert lua == "sound", damage.name
            else:
                assert damage.reason in lua, (damage.name, lua)
    finally:
        await client.aclose()


_FIELD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.lists(st.one_of(st.text(max_size=4), st.integers(), st.none()), max_size=3),
)


_SOUND_META = ["pending", 0, 3, 0, 1.0, False, False, False, 1.0, False]
_SOUND_DATA = ["tests.noop", b"", None, [], None]


@settings(max_examples=400, deadline=None)
@given(
    meta_changes=st.dictionaries(st.integers(0, 11), _FIELD, max_size=2),
    data_changes=st.dictionaries(st.integers(0, 6), _FIELD, max_size=2),
)
def test_the_fast_check_passes_only_what_the_field_checks_pass(
    meta_changes: dict[int, Any], data_changes: dict[int, Any]
) -> None:
    """records._sound() (the common case, per claimed job) never lets through a record
    the field-by-field checks would call corrupt: it only saves their cost. Records
    one or two fields away from a sound one, so that both verdicts occur."""
    from asynctasq.drivers.redis.records import _data_fault, _meta_fault, _sound

    meta, data = list(_SOUND_META), list(_SOUND_DATA)
    for fields, changes in ((meta, meta_changes), (data, data_changes)):
        for index, value in changes.items():
            fields.extend([None] * (index + 1 - len(fields)))
            fields[index] = value
    if _sound(meta, data):
        assert _meta_fault(meta) is None and _data_fault(data) is None


def test_the_fast_check_takes_a_child_a_timeout_and_a_ttl() -> None:
    """The jobs of a DAG, with a timeout or a ttl, are common: read without the slow
    field-by-field pass (which cost a claimed child 15% of the worker's throughput)."""
    from asynctasq.drivers.redis.records import _sound

    meta = _SOUND_META
    assert _sound(meta, ["tests.noop", b"", None, [], None])
    assert _sound(meta, ["tests.noop", b"", 30.0, ["a" * 26, "b" * 26], 99.5, "flow", "name"])
    assert not _sound(meta, ["tests.noop", b"", -1.0, [], None])
    assert not _sound(meta, ["tests.noop", b"", None, ["a", 7], None])
    assert not _sound(meta, ["tests.noop", b"", None, [], float("nan")])


def test_split_record_reads_a_sound_record() -> None:
    from asynctasq.drivers.redis.codec import enqueue_args

    record: bytes = enqueue_args([make_job()], time.time())[4]
    meta, data = split_record(record)
    assert meta[0] == "pending" and msgpack.unpackb(data)[0] == "tests.noop"


# -- other records -------------------------------------------------------------------------


@only_backends(*REDIS)
async def test_a_damaged_worker_record_is_left_out_of_the_listing(backend: Backend) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, RedisDriver)
    await driver.heartbeat(WorkerInfo("w1", "h", 1, ("default",), 1), ttl=30)
    await driver.heartbeat(WorkerInfo("w2", "h", 2, ("default",), 1), ttl=30)
    await _client(driver).hset(driver.keys.worker_info, "w1", b"\xc1garbage")
    assert [w.worker_id for w in await driver.list_workers()] == ["w2"]
