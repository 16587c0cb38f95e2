"""Flows and dependencies across queues, run by real workers: a flow whose jobs name
their own queues runs with one worker per queue (a parent's settle releases a child
in another queue, and that queue's idle worker is woken), a failure cascades across
queues, and Redis Cluster refuses such a flow, saying why."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asynctasq.core.worker.worker import Worker
from asynctasq.drivers.capabilities import Dependencies, Flows, Inspection, Results
from asynctasq.errors import JobFailedError
from asynctasq.flow import FlowProducer, Job, get_flow
from asynctasq.jobs import Job as JobRecord
from asynctasq.jobs import JobState
from tests.backends import Backend
from tests.conftest import only_backends, skip_without
from tests.workflows import flow_tasks  # registers the tasks the flows name

assert flow_tasks

pytestmark = pytest.mark.timeout(120)


async def flows_driver(backend: Backend) -> Any:
    skip_without(backend, Flows, Results, Dependencies, Inspection)
    if backend.name == "redis-cluster":
        pytest.skip("Redis Cluster refuses a flow across queues (tested below)")
    return await backend.new_driver()


async def serve_each(backend: Backend, queues: list[str], until: Any) -> Any:
    """One worker per queue, each with its own driver, until ``until`` is done."""
    workers = [
        Worker(await backend.new_driver(), [q], config=backend.config(), handle_signals=False)
        for q in queues
    ]
    running = [asyncio.create_task(w.start()) for w in workers]
    try:
        return await until
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*running)


def etl(a: str, b: str) -> list[Job]:
    """ingest (a) -> two scales (b and a) -> aggregate (b): fan-out and fan-in across."""
    ingest = Job(task_id="flows.ingest", kwargs={"n": 5}, name="ingest", queue=a)
    x = Job(task_id="flows.scale", kwargs={"factor": 2}, depends_on=[ingest.id], name="a", queue=b)
    y = Job(task_id="flows.scale", kwargs={"factor": 3}, depends_on=[ingest.id], name="b")
    total = Job(task_id="flows.aggregate", depends_on=[x.id, y.id], queue=b)
    return [ingest, x, y, total]


async def test_a_flow_across_two_queues_runs_with_a_worker_per_queue(backend: Backend) -> None:
    driver = await flows_driver(backend)
    jobs = etl("xq-a", "xq-b")
    ids = await FlowProducer(backend=driver).add_flow("xq-a", jobs)  # y stays in xq-a
    assert [j.flow_id for j in jobs] == [jobs[0].flow_id] * 4
    listed = await get_flow(jobs[0].flow_id or "", backend=driver)
    assert [j.state for j in listed] == [JobState.PENDING] + [JobState.BLOCKED] * 3
    total = await serve_each(backend, ["xq-a", "xq-b"], ids[3].result(timeout=30))
    assert total == {"a": 10, "b": 15, "sum": 25}
    listed = await get_flow(jobs[0].flow_id or "", backend=driver)
    assert {j.state for j in listed} == {JobState.COMPLETED}


async def test_a_failure_cascades_to_the_other_queue(backend: Backend) -> None:
    driver = await flows_driver(backend)
    bad = Job(task_id="flows.fails", queue="xf-a")
    child = Job(task_id="flows.ingest", kwargs={"n": 1}, depends_on=[bad.id], queue="xf-b")
    later = Job(task_id="flows.ingest", kwargs={"n": 2}, depends_on=[child.id], queue="xf-a")
    ids = await FlowProducer(backend=driver).add_flow("xf-a", [bad, child, later])
    with pytest.raises(JobFailedError, match="ParentFailed"):
        await serve_each(backend, ["xf-a", "xf-b"], ids[2].result(timeout=30))
    states = [j.state for j in await get_flow(bad.flow_id or "", backend=driver)]
    assert states == [JobState.FAILED] * 3


@only_backends("redis")
async def test_a_settle_wakes_the_workers_of_the_childs_queue(backend: Backend) -> None:
    driver = await backend.new_driver()
    parent = JobRecord(task="tests.noop", payload=b"\x80", queue="xw-a")
    child = JobRecord(task="tests.noop", payload=b"\x80", queue="xw-b", depends_on=(parent.id,))
    await driver.enqueue([parent, child])
    wake = driver.keys.wake("xw-b")
    await driver.client.delete(wake)
    (claimed,) = await driver.claim(["xw-a"], limit=1, worker_id="w", lease_seconds=30.0)
    assert await driver.client.llen(wake) == 0
    assert await driver.complete(claimed)
    assert await driver.client.llen(wake) == 1  # a token for an idle worker of xw-b
    (released,) = await driver.claim(["xw-b"], limit=1, worker_id="w", lease_seconds=30.0)
    assert released.id == child.id


@only_backends("redis-cluster")
async def test_redis_cluster_refuses_a_flow_across_queues(backend: Backend) -> None:
    driver = await backend.new_driver()
    refused = etl("xc-a", "xc-b")
    with pytest.raises(ValueError, match="Redis Cluster") as raised:
        await FlowProducer(backend=driver).add_flow("xc-a", refused)
    assert "hash tag" in str(raised.value) and "plain (non-cluster) Redis" in str(raised.value)
    assert await driver.get(refused[0].id) is None  # nothing was sent
    jobs = etl("xc-a", "xc-a")  # in one queue: stored as ever
    assert len(await FlowProducer(backend=driver).add_flow("xc-a", jobs)) == 4
