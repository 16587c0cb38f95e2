"""Rate limit buckets (capability RateLimits) on every broker that declares it: one
bucket per key shared by every connection, refilled with the caller's time, and a
job released with a ``run_at`` waits until then without its attempt counting.

Written to move into ``asynctasq.testing.conformance`` later: parametrised on the
``backend`` fixture, skipped by capability name. Time is passed in, never slept.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from asynctasq.drivers.capabilities import Inspection, RateLimits
from asynctasq.jobs import Job, JobState, Released
from asynctasq.ratelimit import RateLimit
from tests.backends import Backend
from tests.conftest import skip_without

LEASE = 60.0


async def _buckets(backend: Backend, count: int) -> list[RateLimits]:
    skip_without(backend, RateLimits)
    drivers = [await backend.new_driver() for _ in range(count)]
    return [d for d in drivers if isinstance(d, RateLimits)]


async def test_a_bucket_is_shared_by_every_connection_and_refills_with_time(
    backend: Backend,
) -> None:
    a, b, c = await _buckets(backend, 3)
    now = 1_000_000.0
    waits = [await d.take_token("task:t", 5, 1.0, now) for d in (a, b, c, a, b, c, a)]
    assert waits[:5] == [0.0] * 5  # the bucket starts full: a burst of the limit
    assert waits[5] == pytest.approx(0.2) and waits[6] == pytest.approx(0.2)
    assert await c.take_token("task:t", 5, 1.0, now + 0.1) == pytest.approx(0.1)
    assert await b.take_token("task:t", 5, 1.0, now + 0.2) == 0.0  # one token refilled
    assert await a.take_token("task:t", 5, 1.0, now + 0.2) == pytest.approx(0.2)
    # refill never goes above the limit, however long the key was idle
    later = now + 3600
    assert [await a.take_token("task:t", 5, 1.0, later) for _ in range(6)][-2:] == [
        0.0,
        pytest.approx(0.2),
    ]


async def test_keys_are_independent_and_zero_blocks(backend: Backend) -> None:
    (driver,) = await _buckets(backend, 1)
    now = 1_000_000.0
    assert await driver.take_token("task:a", 1, 10.0, now) == 0.0
    assert await driver.take_token("task:a", 1, 10.0, now) == pytest.approx(10.0)
    assert await driver.take_token("task:b", 1, 10.0, now) == 0.0
    assert await driver.take_token("task:z", 0, 2.0, now) == 2.0  # blocked: look again later
    assert await driver.take_token("task:z", 0, 2.0, now + 3600) == 2.0


async def test_a_job_released_until_later_waits_and_keeps_its_attempts(backend: Backend) -> None:
    skip_without(backend, RateLimits, Inspection)
    driver = await backend.new_driver()
    job = Job(task="t", payload=b"", id="limited", run_at=time.time() - 1)
    await driver.enqueue([job])
    (claimed,) = await driver.claim(["default"], limit=1, worker_id="w1", lease_seconds=LEASE)
    run_at = time.time() + 3600
    released = Released(claimed.id, "w1", claimed.attempts, queue="default", run_at=run_at)
    assert await driver.settle([released]) == [True]
    assert await driver.claim(["default"], limit=1, worker_id="w1", lease_seconds=LEASE) == []
    assert isinstance(driver, Inspection)
    stored = await driver.get("limited")
    assert stored is not None
    assert stored.state is JobState.SCHEDULED  # pending, due later
    assert stored.attempts == 0  # the release did not count the attempt
    assert stored.run_at == pytest.approx(run_at, abs=0.01)


async def test_concurrent_takes_from_two_connections_give_out_exactly_the_limit(
    backend: Backend,
) -> None:
    """A burst of a worker's starts (coalesced into one take on SQL brokers) racing
    another connection's burst: together they get the bucket's tokens, no more."""
    a, b = await _buckets(backend, 2)
    now = 2_000_000.0
    calls = [d.take_token("task:burst", 10, 60.0, now) for _ in range(25) for d in (a, b)]
    waits = await asyncio.gather(*calls)
    assert waits.count(0.0) == 10
    assert all(w == pytest.approx(6.0) for w in waits if w)  # one token per 6 s


async def test_a_blocked_key_leaves_its_bucket_as_it_was(backend: Backend) -> None:
    """``limit=0`` gives nothing and writes nothing, on every broker alike: unblocked
    again, the bucket refilled for the whole time since it was last taken from."""
    (driver,) = await _buckets(backend, 1)
    now = 3_000_000.0
    assert [await driver.take_token("queue:q", 5, 1.0, now) for _ in range(5)] == [0.0] * 5
    assert await driver.take_tokens("queue:q", 3, 0, 1.0, now + 0.5) == (0, 1.0)
    taken, wait = await driver.take_tokens("queue:q", 3, 5, 1.0, now + 0.5)
    assert taken == 2 and wait == pytest.approx(0.1)  # 2.5 refilled meanwhile


async def test_burst_sets_the_bucket_size_and_spares_come_from_its_upper_half(
    backend: Backend,
) -> None:
    (driver,) = await _buckets(backend, 1)
    now = 4_000_000.0
    # 10 a second, a bucket of 2: a burst of 2, then one token each 0.1 s
    assert await driver.take_tokens("queue:b", 5, 10, 1.0, now, burst=2) == (
        2,
        pytest.approx(0.1),
    )
    # a full bucket of 10: 1 asked, spares only down to half full (4 more)
    assert await driver.take_tokens("queue:s", 1, 10, 1.0, now, spare=64) == (5, 0.0)
    assert await driver.take_tokens("queue:s", 1, 10, 1.0, now, spare=64) == (1, 0.0)
    assert await driver.take_tokens("queue:s", 5, 10, 1.0, now, spare=64) == (
        4,
        pytest.approx(0.1),
    )


async def test_queue_limits_are_stored_for_every_connection(backend: Backend) -> None:
    a, b = await _buckets(backend, 2)
    assert await a.queue_rate_limits() == {}
    await a.set_queue_rate_limit("mail", RateLimit(20))
    await a.set_queue_rate_limit("sms", RateLimit(0, 60))
    assert await b.queue_rate_limits() == {"mail": RateLimit(20), "sms": RateLimit(0, 60.0)}
    await b.set_queue_rate_limit("mail", RateLimit(5, 2.5, burst=1))  # replaced
    await b.set_queue_rate_limit("sms", None)  # removed
    await b.set_queue_rate_limit("absent", None)  # nothing to remove: fine
    assert await a.queue_rate_limits() == {"mail": RateLimit(5, 2.5, 1)}


async def test_a_late_caller_does_not_set_the_bucket_back_in_time(backend: Backend) -> None:
    """A worker whose ``now`` was read before a round trip another beat must not
    move the bucket's time back: the time between would refill twice."""
    a, b = await _buckets(backend, 2)
    now = 5_000_000.0  # (times exact in binary: the refills are whole tokens)
    assert await a.take_tokens("queue:late", 4, 4, 1.0, now) == (4, 0.0)
    assert await a.take_tokens("queue:late", 2, 4, 1.0, now + 0.5) == (2, 0.0)
    # b read its clock at now + 0.25 and arrives after: nothing refilled for it
    assert await b.take_tokens("queue:late", 1, 4, 1.0, now + 0.25) == (0, 0.25)
    # and the bucket still counts from now + 0.5: at now + 0.75, one token
    assert await a.take_tokens("queue:late", 2, 4, 1.0, now + 0.75) == (1, 0.25)
