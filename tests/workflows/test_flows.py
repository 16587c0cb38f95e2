"""Flows (FlowProducer) and the canvas helpers on every broker with Flows: the DAG is
checked before anything is stored, stored whole, run in order, results flow to the
children (by id and by flow name), get_flow reports every job."""

from __future__ import annotations

from typing import Any

import pytest

from asynctasq.core.worker.worker import Worker
from asynctasq.drivers.capabilities import Dependencies, Flows, Inspection, Results
from asynctasq.errors import JobFailedError
from asynctasq.flow import FlowError, FlowProducer, Job, chain, chord, get_flow, group
from asynctasq.jobs import JobState
from asynctasq.tasks.registry import registry
from tests.backends import Backend
from tests.conftest import skip_without
from tests.workflows.flow_tasks import Fetch, Ingest, Parse, Store, Total

pytestmark = pytest.mark.timeout(120)


async def flows_driver(backend: Backend) -> Any:
    skip_without(backend, Flows, Results, Dependencies, Inspection)
    return await backend.new_driver()


async def drain(backend: Backend, driver: Any, queue: str = "default") -> None:
    worker = Worker(driver, [queue], config=backend.config(), burst=True, handle_signals=False)
    await worker.start()


async def test_a_flow_runs_in_order_and_children_read_results_by_name(backend: Backend) -> None:
    driver = await flows_driver(backend)
    ingest = Job(task_id="flows.ingest", kwargs={"n": 5}, name="ingest")
    a = Job(task_id="flows.scale", kwargs={"factor": 2}, depends_on=[ingest.id], name="a")
    b = Job(task_id="flows.scale", kwargs={"factor": 3}, depends_on=[ingest.id], name="b")
    total = Job(task_id="flows.aggregate", depends_on=[a.id, b.id], name="total")
    ids = await FlowProducer(backend=driver).add_flow("etl", [total, ingest, a, b])
    assert ids == [total.id, ingest.id, a.id, b.id]  # in the order given
    assert total.flow_id is not None and total.flow_id == a.flow_id
    listed = await get_flow(total.flow_id, backend=driver)
    assert [(j.job_id, j.name) for j in listed] == [(j.id, j.name) for j in (total, ingest, a, b)]
    assert listed[0].state is JobState.BLOCKED and listed[1].state is JobState.PENDING
    await drain(backend, driver, "etl")
    assert await ids[0].result(timeout=30) == {"a": 10, "b": 15, "sum": 25}
    listed = await get_flow(total.flow_id, backend=driver)
    assert {j.state for j in listed} == {JobState.COMPLETED}
    assert await get_flow("no-such-flow", backend=driver) == []


async def test_a_failed_parent_fails_the_rest_of_the_flow(backend: Backend) -> None:
    driver = await flows_driver(backend)
    bad = Job(task_id="flows.fails")
    after = Job(task_id="flows.ingest", kwargs={"n": 1}, depends_on=[bad.id])
    ids = await FlowProducer(backend=driver).add_flow("default", [bad, after])
    await drain(backend, driver)
    with pytest.raises(JobFailedError, match="ParentFailed"):
        await ids[1].result(timeout=30)
    assert bad.flow_id is not None
    states = [j.state for j in await get_flow(bad.flow_id, backend=driver)]
    assert states == [JobState.FAILED, JobState.FAILED]


async def test_a_bad_flow_is_refused_before_anything_is_stored(backend: Backend) -> None:
    driver = await flows_driver(backend)
    producer = FlowProducer(backend=driver, registry=registry)
    a, b = Job(task_id="flows.ingest", kwargs={"n": 1}), Job(task_id="flows.ingest")
    a.depends_on.append(b.id)  # changeable until the flow is added
    b.depends_on.append(a.id)
    with pytest.raises(FlowError, match="cycle"):
        await producer.add_flow("default", [a, b])
    with pytest.raises(FlowError, match="dangling"):
        await producer.add_flow("default", [Job(task_id="flows.ingest", depends_on=["nope"])])
    with pytest.raises(FlowError, match="not registered"):
        await producer.add_flow("default", [Job(task_id="flows.no_such_task")])
    with pytest.raises(FlowError, match="same id"):
        await producer.add_flow("default", [Job(task_id="flows.ingest", id="x")] * 2)
    assert isinstance(driver, Inspection)
    assert await driver.list_jobs("default") == []


async def test_chain_passes_each_result_to_the_next_step(backend: Backend) -> None:
    driver = await flows_driver(backend)
    run = await chain(Fetch(url="example.com"), Parse(), Store()).dispatch(backend=driver)
    assert len(run.handles) == 3
    await drain(backend, driver)
    assert await run.result(timeout=30) == f"stored {len('<html>example.com</html>')}"
    assert [j.state for j in await get_flow(run.flow_id, backend=driver)] == [
        JobState.COMPLETED
    ] * 3


async def test_group_and_chord(backend: Backend) -> None:
    driver = await flows_driver(backend)
    together = await group(Ingest(n=1), Ingest(n=2), Ingest(n=3)).dispatch(backend=driver)
    summed = await chord([Ingest(n=10), Ingest(n=20)], Total()).dispatch(backend=driver)
    await drain(backend, driver)
    assert await together.result(timeout=30) == [1, 2, 3]
    assert await summed.result(timeout=30) == 30


async def test_a_cron_job_of_a_flow_is_stored_as_a_schedule(backend: Backend) -> None:
    from asynctasq.drivers.capabilities import Schedules
    from asynctasq.operations.schedules import list_schedules

    driver = await flows_driver(backend)
    skip_without(backend, Schedules)
    # the reference documentation's shape: Job(task_id=..., args=[], cron="0 0 * * *")
    cleanup = Job(task_id="flows.ingest", args=[], kwargs={"n": 1}, cron="0 0 * * *")
    one_off = Job(task_id="flows.ingest", kwargs={"n": 2})
    ids = await FlowProducer(backend=driver).add_flow("maintenance", [cleanup, one_off])
    assert ids[0] == "maintenance:flows.ingest" and ids[1] == one_off.id
    [stored] = await list_schedules(driver)
    assert (stored.id, stored.cron, stored.queue) == (ids[0], "0 0 * * *", "maintenance")
    # added again (a deploy registering its schedules): the same schedule, not a second
    again = Job(task_id="flows.ingest", kwargs={"n": 1}, cron="0 0 * * *")
    await FlowProducer(backend=driver).add_flow("maintenance", [again])
    assert [s.id for s in await list_schedules(driver)] == [ids[0]]

    parent = Job(task_id="flows.ingest", kwargs={"n": 1}, cron="*/5 * * * *")
    child = Job(task_id="flows.ingest", kwargs={"n": 1}, depends_on=[parent.id])
    with pytest.raises(FlowError, match="depends on a cron job"):
        await FlowProducer(backend=driver).add_flow("maintenance", [parent, child])
    with pytest.raises(FlowError, match="not a cron expression"):
        await FlowProducer(backend=driver).add_flow(
            "maintenance", [Job(task_id="flows.ingest", cron="every day")]
        )
    assert len(await list_schedules(driver)) == 1  # nothing of a refused flow stored
