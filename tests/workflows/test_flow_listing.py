"""Flows listed from the broker (Flows.list_flows, operations.list_flows: newest
first, a page at a time from a cursor, jobs counted by state) and a flow's jobs
knowing their flow (Inspection.get fills Job.flow_id), on every broker with Flows."""

from __future__ import annotations

from typing import Any

import pytest

from asynctasq.drivers.capabilities import Dependencies, Flows, Inspection, Removal, Results
from asynctasq.flow import FlowProducer, Job
from asynctasq.jobs import Job as JobRecord
from asynctasq.jobs import JobState
from asynctasq.operations import list_flows
from asynctasq.operations.flows import decode_flow_cursor, encode_flow_cursor
from asynctasq.serialization.payload import encode_payload
from tests.backends import Backend
from tests.conftest import skip_without

pytestmark = pytest.mark.timeout(60)


async def flows_driver(backend: Backend) -> Any:
    skip_without(backend, Flows, Results, Dependencies, Inspection)
    return await backend.new_driver()


async def add(driver: Any, name: str, size: int = 2) -> list[Job]:
    """A flow of ``size`` jobs, a chain: the first named ``name``."""
    jobs = [Job(task_id="listing.step", name=name)]
    for i in range(1, size):
        jobs.append(Job(task_id="listing.step", depends_on=[jobs[-1].id], name=f"{name}-{i}"))
    await FlowProducer(backend=driver).add_flow("default", jobs)
    return jobs


async def test_flows_are_listed_newest_first_a_page_at_a_time(backend: Backend) -> None:
    driver = await flows_driver(backend)
    assert (await list_flows(driver)).flows == []
    added = [await add(driver, f"flow{i}", size=i + 1) for i in range(5)]
    first = await list_flows(driver, limit=2)
    assert [f["name"] for f in first.flows] == ["flow4", "flow3"]
    assert first.flows[0]["flow_id"] == added[4][0].flow_id
    assert first.flows[0]["jobs"] == 5
    # a chain: its head waits to run, the others on their parent
    assert first.flows[0]["states"] == {"blocked": 4, "pending": 1}
    assert first.next_cursor is not None
    second = await list_flows(driver, limit=2, cursor=first.next_cursor)
    assert [f["name"] for f in second.flows] == ["flow2", "flow1"]
    third = await list_flows(driver, limit=2, cursor=second.next_cursor)
    assert [f["name"] for f in third.flows] == ["flow0"] and third.next_cursor is None
    assert third.flows[0]["states"] == {"pending": 1}
    created = [f["created_at"] for f in first.flows + second.flows + third.flows]
    assert created == sorted(created, reverse=True)
    # a job gone from the broker (here removed) counts as forgotten
    assert isinstance(driver, Removal) and await driver.remove(added[0][0].id)
    (oldest,) = (await list_flows(driver, limit=2, cursor=second.next_cursor)).flows
    assert oldest["states"] == {"forgotten": 1} and oldest["jobs"] == 1


async def test_paging_one_flow_at_a_time_lists_each_once(backend: Backend) -> None:
    driver = await flows_driver(backend)
    for i in range(3):
        await add(driver, f"f{i}", size=1)
    whole = await driver.list_flows(limit=10)
    assert len(whole) == 3
    seen: list[str] = []
    before = None
    while True:  # one flow a page: each cursor starts just after the last one
        page = await driver.list_flows(limit=1, before=before)
        if not page:
            break
        seen.append(page[0].flow_id)
        before = (page[0].created_at, page[0].flow_id)
    assert seen == [f.flow_id for f in whole]


async def test_a_job_of_a_flow_knows_its_flow_and_name(backend: Backend) -> None:
    driver = await flows_driver(backend)
    head, tail = await add(driver, "etl", size=2)
    for job in (head, tail):
        got = await driver.get(job.id)
        assert got is not None
        assert (got.flow_id, got.flow_name) == (head.flow_id, job.name)
    solo = JobRecord(task="listing.step", payload=encode_payload({}), queue="solo")
    (alone,) = await driver.enqueue([solo])
    got = await driver.get(alone)
    assert got is not None and got.flow_id is None and got.flow_name is None
    # still known once the job has run and finished
    [claimed] = await driver.claim(["default"], limit=1, worker_id="w", lease_seconds=30.0)
    assert claimed.id == head.id and await driver.complete(claimed)
    done = await driver.get(head.id)
    if done is not None:  # (a broker that keeps no completed jobs forgets it)
        assert done.state is JobState.COMPLETED and done.flow_id == head.flow_id


def test_a_flow_cursor_reads_back_and_refuses_garbage() -> None:
    assert decode_flow_cursor(encode_flow_cursor(1.5, "abc")) == (1.5, "abc")
    assert decode_flow_cursor(None) is None
    for bad in ("nope", encode_flow_cursor(1.0, "")[:-1] + "!", "bzE="):
        with pytest.raises(ValueError, match="invalid flow cursor"):
            decode_flow_cursor(bad)
