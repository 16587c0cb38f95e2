"""A 1,000-job random DAG (fan-out, fan-in up to 20 parents) added as one flow and run by
3 worker processes, one of them killed (SIGKILL) mid-run: every job runs after all its
parents, exactly the jobs that should run do (the descendants of the failing nodes end
failed, never run), and results flow to the children (each node returns 1 + the sum of
its parents' results: checked against the DAG)."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from asynctasq.core.results import outcomes
from asynctasq.drivers.capabilities import Flows, Results
from asynctasq.flow import FlowProducer, Job
from asynctasq.jobs import JobState
from asynctasq.serialization.msgpack import loads
from tests.backends import Backend
from tests.chaos.fleet import Fleet, settled
from tests.conftest import only_backends, skip_without

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

JOBS, WORKERS, MAX_PARENTS, FAILING = 1000, 3, 20, ("n100", "n600")


def random_dag(size: int, seed: int) -> dict[str, list[str]]:
    """Name -> parents' names (earlier nodes): most have 0-3 parents, some fan in up to 20."""
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(size)]
    dag = {}
    for i, name in enumerate(names):
        k = rng.choice([0, 1, 1, 2, 3, MAX_PARENTS]) if i else 0
        window = names[max(0, i - 200) : i]  # recent nodes: long chains, not one wide layer
        dag[name] = rng.sample(window, k=min(k, len(window)))
    return dag


def expected_values(dag: dict[str, list[str]]) -> dict[str, int]:
    """What each node that completes returns; the doomed ones are left out."""
    values: dict[str, int] = {}
    for name, parents in dag.items():  # parents come first
        if name not in FAILING and all(p in values for p in parents):
            values[name] = 1 + sum(values[p] for p in parents)
    return values


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_a_random_dag_survives_a_killed_worker(backend: Backend, tmp_path: Path) -> None:
    skip_without(backend, Flows, Results)
    driver = await backend.new_driver()
    log = tmp_path / "events.log"
    dag = random_dag(JOBS, seed=15)
    jobs = {
        name: Job(task_id="tests.chaos.dag.Node", kwargs={"key": name, "log": str(log),
                                                          "fail": name in FAILING})
        for name in dag
    }  # fmt: skip
    for name, parents in dag.items():
        jobs[name].depends_on = [jobs[p].id for p in parents]
        jobs[name].options["retries"] = 20  # a job caught by the kill runs again
    await FlowProducer(backend=driver).add_flow("default", list(jobs.values()))

    env = {**backend.env(), "ASYNCTASQ_LEASE_SECONDS": "2", "ASYNCTASQ_CONCURRENCY": "8"}
    fleet = Fleet(env, WORKERS, log_dir=tmp_path, imports="tests.chaos.dag_tasks").start()
    started = time.monotonic()
    try:
        while not log.exists() or len(log.read_text().splitlines()) < JOBS // 3:
            assert time.monotonic() - started < 120, fleet.logs()
            await asyncio.sleep(0.05)
        fleet.kill_one()  # mid-run
        while not await settled(driver):
            assert time.monotonic() - started < 240, fleet.logs()
            await asyncio.sleep(0.2)
        assert fleet.stop() == [0] * WORKERS, fleet.logs()
    finally:
        fleet.kill_all()

    values = expected_values(dag)
    lines = log.read_text().splitlines()
    ended_at: dict[str, int] = {}
    for i, line in enumerate(lines):
        kind, name = line.split()
        if kind == "end":
            ended_at.setdefault(name, i)
        else:  # every start (a rerun's too) comes after each parent's first end
            for parent in dag[name]:
                assert ended_at.get(parent, len(lines)) < i, f"{name} started before {parent}"
    ran = {line.split()[1] for line in lines if line.startswith("start")}
    failing = {f for f in FAILING if all(p in values for p in dag[f])}  # not doomed first
    found = await outcomes(driver, [job.id for job in jobs.values()])
    missing = {n: (found[jobs[n].id], dag[n]) for n in set(values) | failing if n not in ran}
    assert not missing, missing
    assert ran == set(values) | failing  # the doomed descendants never ran
    for name, job in jobs.items():
        outcome = found[job.id]
        if name in values:
            assert outcome.state is JobState.COMPLETED, (name, outcome)
            assert outcome.result is not None and loads(outcome.result) == values[name], name
        else:
            assert outcome.state is JobState.FAILED, (name, outcome)
