"""A 1,000-job random DAG (fan-out, and fan-in of up to 20 parents) run by 3 worker
processes while one of them is killed with SIGKILL mid-run, on every broker that can
be shared by processes and declares Dependencies (issue 15).

What must hold: every job that should run does (at least once: a killed worker's job
runs again), and none of the descendants of a job that fails on purpose ever starts;
no run of a job starts before all of its parents have completed; and the descendants
end ``failed`` naming their parent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.capabilities import Dependencies, Inspection
from asynctasq.jobs import JobState
from tests.backends import Backend
from tests.chaos.dag_node_tasks import DagNode
from tests.chaos.fleet import Fleet
from tests.conftest import only_backends, skip_without
from tests.sample_tasks import recorded

# deep: CI runs tests/chaos/test_dag_kill.py (a flow of 1,000 jobs, results checked);
# this one, the same graph dispatched job by job, runs in `make test-deep`
pytestmark = [pytest.mark.slow, pytest.mark.deep, pytest.mark.timeout(300)]

SIZE = 1000
MAX_PARENTS = 20
WORKERS = 3


def random_dag(size: int, seed: int) -> dict[str, list[str]]:
    """Node name -> parents: most nodes have a few parents among the recent ones (a
    deep graph), some are fan-ins of up to 20, a tenth are roots (fan-outs)."""
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(size)]
    dag: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        if i == 0 or rng.random() < 0.1:
            dag[name] = []
            continue
        window = names[max(0, i - 60) : i]
        count = MAX_PARENTS if rng.random() < 0.05 else rng.randint(1, 4)
        dag[name] = rng.sample(window, k=min(count, len(window)))
    return dag


def descendants(dag: dict[str, list[str]], roots: set[str]) -> set[str]:
    found: set[str] = set()
    for name, parents in dag.items():  # parents come first: one pass is enough
        if any(p in roots or p in found for p in parents):
            found.add(name)
    return found


def failing_nodes(dag: dict[str, list[str]], count: int = 2) -> set[str]:
    """Nodes whose failure dooms a handful of descendants (3 to 30), not most of the
    graph: most of it must still run."""
    chosen: set[str] = set()
    for name in dag:
        if 3 <= len(descendants(dag, {name})) <= 30 and not descendants(dag, chosen) & {name}:
            chosen.add(name)
            if len(chosen) == count:
                return chosen
    raise AssertionError("no node with a handful of descendants")


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_a_1000_job_dag_survives_a_worker_killed_mid_run(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skip_without(backend, Dependencies, Inspection)
    if not backend.shared_across_processes:
        pytest.skip(f"{backend.name} cannot be shared by worker processes")
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    dispatcher = Dispatcher(driver, backend.config())
    log = str(tmp_path / "runs.log")
    dag = random_dag(SIZE, seed=2026)
    assert max(len(p) for p in dag.values()) == MAX_PARENTS
    failing = failing_nodes(dag)
    ids: dict[str, str] = {}
    for name, parents in dag.items():  # parents first: each names ids already stored
        node = DagNode(node=name, log=log, fail=name in failing)
        ids[name] = await dispatcher.dispatch(
            node.with_options(depends_on=[ids[p] for p in parents])
        )
    doomed = descendants(dag, failing)
    should_run = set(dag) - doomed
    should_end = should_run - failing

    env = {
        **backend.env(),
        "ASYNCTASQ_LEASE_SECONDS": "2",  # a killed worker's jobs are back in ~2 s
        "ASYNCTASQ_CONCURRENCY": "4",
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
    }
    fleet = Fleet(env, WORKERS, log_dir=tmp_path, imports="tests.chaos.dag_node_tasks").start()
    started_at = time.monotonic()
    try:
        # the kill comes once a third of the graph has run: mid-run, work in flight
        while len({r.split(":")[1] for r in recorded(log) if r.startswith("end:")}) < SIZE // 3:
            assert time.monotonic() - started_at < 120, f"stalled\n{fleet.logs()}"
            await asyncio.sleep(0.05)
        fleet.kill_one()
        while True:
            ended = {r.split(":")[1] for r in recorded(log) if r.startswith("end:")}
            if ended >= should_end:
                break
            assert time.monotonic() - started_at < 240, (
                f"{len(should_end - ended)} jobs never ran\n{fleet.logs()}"
            )
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started_at
        assert fleet.stop() == [0] * WORKERS, fleet.logs()
    finally:
        fleet.kill_all()

    starts: dict[str, list[float]] = defaultdict(list)
    ends: dict[str, list[float]] = defaultdict(list)
    for line in recorded(log):
        kind, name, at = line.split(":", 2)
        (starts if kind == "start" else ends)[name].append(float(at))
    assert set(starts) == should_run, "exactly the jobs that should run did"
    assert not doomed & set(starts)
    for name, runs in starts.items():
        for parent in dag[name]:
            assert ends[parent], f"{name} ran though its parent {parent} never completed"
            assert min(runs) > min(ends[parent]), f"{name} started before {parent} ended"
    for name in doomed:
        job = await driver.get(ids[name])
        assert job is not None and job.state is JobState.FAILED, (name, job)
        assert job.error is not None and job.error.startswith("ParentFailed"), job.error
    reruns = sum(len(r) - 1 for r in starts.values())
    with capsys.disabled():
        print(
            f"\ndag-chaos[{backend.name}]: {SIZE} jobs, {len(should_run)} ran, "
            f"{len(doomed)} never started (descendants of a failure), 1 kill -9, "
            f"{reruns} extra run(s), {elapsed:.1f}s"
        )
