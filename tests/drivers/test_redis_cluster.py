"""Redis Cluster: queues in different slots (on different masters) served together.

The contract suite runs on the "redis-cluster" backend as well; these tests pin
down what only a cluster has: a claim across slots (two phases, merged by
priority), wake-ups across slots, and scheduled jobs due on another node.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as redis
from redis.crc import key_slot

from asynctasq.drivers.base import Driver
from asynctasq.drivers.keys import RedisKeys
from asynctasq.testing.conformance.contract import make_job, reserve
from tests.backends import Backend
from tests.backends_redis import shared_cluster
from tests.conftest import only_backends

QUEUES = ["alpha", "bravo", "charlie"]


@only_backends("redis-cluster")
async def test_the_cluster_has_three_masters_and_the_queues_three_slots(backend: Backend) -> None:
    client = redis.RedisCluster.from_url(shared_cluster().url)
    try:
        info = await client.cluster_info()
        assert int(info["cluster_known_nodes"]) == 3
        owners = {client.get_node_from_key(RedisKeys("p").queue(q)[0]).name for q in QUEUES}
    finally:
        await client.aclose()
    assert len({key_slot(RedisKeys("p").queue(q)[0].encode()) for q in QUEUES}) == 3
    assert len(owners) >= 2, owners  # the claim really spans nodes


@only_backends("redis-cluster")
async def test_a_claim_across_slots_follows_priority(backend: Backend) -> None:
    driver = await backend.new_driver()
    now = time.time()
    jobs = [
        make_job("alpha", priority=5, run_at=now - 5),
        make_job("bravo", priority=1, run_at=now - 1),
        make_job("charlie", priority=1, run_at=now - 2),
        make_job("alpha", priority=0, run_at=now),
        make_job("bravo", priority=9, run_at=now - 9),
    ]
    await driver.enqueue(jobs)
    order = [jobs[3], jobs[2], jobs[1], jobs[0], jobs[4]]
    first = await reserve(driver, QUEUES, limit=2)
    assert [j.id for j in first] == [j.id for j in order[:2]]
    rest = await reserve(driver, QUEUES)
    assert [j.id for j in rest] == [j.id for j in order[2:]]
    assert [await driver.complete(j) for j in first + rest] == [True] * 5


@only_backends("redis-cluster")
async def test_a_paused_queue_in_another_slot_is_skipped(backend: Backend) -> None:
    driver = await backend.new_driver()
    await driver.enqueue([make_job(q, priority=i) for i, q in enumerate(QUEUES)])
    await driver.pause("alpha")
    got = await reserve(driver, QUEUES)
    assert [j.queue for j in got] == ["bravo", "charlie"]
    await driver.resume("alpha")
    assert [j.queue for j in await reserve(driver, QUEUES)] == ["alpha"]


@only_backends("redis-cluster")
async def test_an_enqueue_in_any_slot_wakes_a_worker_waiting_on_all(backend: Backend) -> None:
    consumer = await backend.new_driver()
    producer = await backend.new_driver()
    for queue in QUEUES:
        waiter = asyncio.create_task(reserve(consumer, QUEUES, wait=10))
        await asyncio.sleep(0.15)
        job = make_job(queue)
        sent = time.monotonic()
        await producer.enqueue([job])
        (got,) = await asyncio.wait_for(waiter, 5)
        assert got.id == job.id
        assert time.monotonic() - sent < 1.0
        assert await consumer.complete(got)


@only_backends("redis-cluster")
async def test_a_job_due_in_another_slot_ends_the_wait_on_time(backend: Backend) -> None:
    driver: Driver = await backend.new_driver()
    run_at = time.time() + 0.4
    await driver.enqueue([make_job("charlie", run_at=run_at)])
    (job,) = await reserve(driver, QUEUES, wait=10)
    assert job.queue == "charlie"
    assert -0.001 <= time.time() - run_at < 0.3
