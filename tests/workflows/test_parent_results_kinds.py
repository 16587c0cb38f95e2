"""Parents' results reach every kind of task, not only in-process ones: process
tasks (SyncProcessTask, AsyncProcessTask: the task is rebuilt in a pool process)
and ``@task`` functions that declare ``parent_results`` or ``previous_result``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from asynctasq.core.worker.worker import Worker
from asynctasq.drivers.capabilities import Dependencies, Flows, Inspection, Results
from asynctasq.errors import JobFailedError, TaskDefinitionError
from asynctasq.flow import FlowProducer, Job, chain
from asynctasq.tasks import task
from tests.backends import Backend
from tests.conftest import skip_without
from tests.workflows.flow_tasks import Ingest, ProcessFailsNoting, ProcessScale, fn_double

pytestmark = pytest.mark.timeout(120)


async def drain(backend: Backend, driver: Any, queue: str) -> None:
    config = backend.config(process_pool_size=1)
    worker = Worker(driver, [queue], config=config, burst=True, handle_signals=False)
    await worker.start()


async def flows_driver(backend: Backend) -> Any:
    skip_without(backend, Flows, Results, Dependencies, Inspection)
    return await backend.new_driver()


async def test_process_and_function_tasks_read_parents_by_name(backend: Backend) -> None:
    driver = await flows_driver(backend)
    ingest = Job(task_id="flows.ingest", kwargs={"n": 5}, name="ingest")
    bad = Job(task_id="flows.fails", name="bad")
    psum = Job(
        task_id="flows.process_sum",
        depends_on=[ingest.id, bad.id],
        on_parent_failure="run",
        name="psum",
    )
    add = Job(task_id="flows.fn_add", kwargs={"extra": 100}, depends_on=[psum.id, ingest.id])
    ids = await FlowProducer(backend=driver).add_flow("kinds", [ingest, bad, psum, add])
    await drain(backend, driver, "kinds")
    pid, by_name, in_order = await ids[2].result(timeout=60)
    assert pid != os.getpid()  # it ran in a pool process, and saw its parents there
    assert by_name == 5 and in_order == [5, "failed"]
    assert await ids[3].result(timeout=60) == 5 + 5 + 100  # psum's "ingest" + ingest + extra


async def test_a_chain_through_process_and_function_steps(backend: Backend) -> None:
    driver = await flows_driver(backend)
    run = await chain(Ingest(n=3), ProcessScale(factor=2), fn_double()).dispatch(backend=driver)
    await drain(backend, driver, "default")
    scaled = await run.handles[1].result(timeout=60)
    assert scaled[0] != os.getpid() and scaled[1] == 6
    doubled = await run.result(timeout=60)
    assert doubled[0] != os.getpid() and doubled[1] == 12


async def test_a_failed_process_tasks_hook_reads_its_parents(
    backend: Backend, tmp_path: Path
) -> None:
    driver = await flows_driver(backend)
    note = tmp_path / "note"
    run = await chain(Ingest(n=4), ProcessFailsNoting(note=str(note))).dispatch(backend=driver)
    await drain(backend, driver, "default")
    with pytest.raises(JobFailedError, match="broken on purpose after 4"):
        await run.result(timeout=60)
    assert note.read_text() == "4"  # failed() ran in the worker, with the parent's result


def test_the_parent_parameters_do_not_travel_with_a_job() -> None:
    @task(name="kinds.takes_parents")
    def takes(x: int, parent_results: Any, previous_result: Any = None) -> int:
        return x

    built = takes(x=1)
    assert built._args == {"x": 1}
    with pytest.raises(TypeError):
        takes(x=1, parent_results={})  # the worker fills it, a caller cannot
    assert type(built).injects_parents == ("parent_results", "previous_result")
    with pytest.raises(TaskDefinitionError, match="reserved"):

        @task(name="kinds.bad_name")
        def reserved(is_cancelled: bool) -> None: ...
