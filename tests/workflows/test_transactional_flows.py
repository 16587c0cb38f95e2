"""Transactional flows: ``add_flow(..., connection=...)`` inside the caller's own
PostgreSQL or MySQL transaction. The whole DAG (jobs, edges, the flow's record)
exists iff the caller commits."""

from __future__ import annotations

from typing import Any

import aiomysql
import asyncpg
import pytest

from asynctasq.drivers.capabilities import Inspection
from asynctasq.flow import FlowProducer, Job, get_flow
from asynctasq.jobs import JobState
from tests.backends import Backend
from tests.conftest import only_backends


def dag() -> list[Job]:
    first = Job(task_id="flows.ingest", kwargs={"n": 1}, name="first")
    second = Job(task_id="flows.scale", kwargs={"factor": 2}, depends_on=[first.id])
    return [first, second]


async def states(driver: Any, jobs: list[Job]) -> list[JobState | None]:
    assert isinstance(driver, Inspection)
    found = [await driver.get(job.id) for job in jobs]
    return [None if job is None else job.state for job in found]


@only_backends("postgres")
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_postgres(backend: Backend, outcome: str) -> None:
    driver = await backend.new_driver()
    jobs = dag()
    con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
    try:
        tx = con.transaction()
        await tx.start()
        await FlowProducer(backend=driver).add_flow("default", jobs, connection=con)
        assert await states(driver, jobs) == [None, None]  # not visible before the commit
        await (tx.commit() if outcome == "commit" else tx.rollback())
    finally:
        await con.close()
    await check(driver, jobs, committed=outcome == "commit")


@only_backends("mysql")
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_mysql(backend: Backend, outcome: str) -> None:
    driver = await backend.new_driver()
    jobs = dag()
    conn = await aiomysql.connect(autocommit=False, **driver.settings.connect_kwargs())
    try:
        await FlowProducer(backend=driver).add_flow("default", jobs, connection=conn)
        await (conn.commit() if outcome == "commit" else conn.rollback())
    finally:
        conn.close()
    await check(driver, jobs, committed=outcome == "commit")


async def check(driver: Any, jobs: list[Job], *, committed: bool) -> None:
    assert jobs[0].flow_id is not None
    listed = await get_flow(jobs[0].flow_id, backend=driver)
    if committed:
        assert await states(driver, jobs) == [JobState.PENDING, JobState.BLOCKED]
        assert [(j.job_id, j.name) for j in listed] == [(jobs[0].id, "first"), (jobs[1].id, None)]
    else:
        assert await states(driver, jobs) == [None, None]
        assert listed == []
