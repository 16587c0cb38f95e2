"""A random DAG run by a real worker on every broker with the Dependencies capability:
every job runs once, after all its parents; a failing job's descendants never run."""

from __future__ import annotations

import random
from typing import ClassVar

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.worker import Worker
from asynctasq.drivers.capabilities import Dependencies, Inspection
from asynctasq.errors import PermanentError
from asynctasq.jobs import JobState
from asynctasq.tasks import AsyncTask
from tests.backends import Backend
from tests.conftest import skip_without


class Node(AsyncTask[int]):
    """Records when it started and finished, in one sequence shared by all nodes."""

    events: ClassVar[list[tuple[str, str]]] = []
    name: str
    fail: bool = False

    async def execute(self) -> int:
        Node.events.append(("start", self.name))
        if self.fail:
            raise PermanentError(f"{self.name} fails on purpose")
        Node.events.append(("end", self.name))
        return len(Node.events)


def random_dag(size: int, seed: int) -> dict[str, list[str]]:
    """Node name -> its parents' names: fan-out and fan-in of up to 6 parents."""
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(size)]
    return {
        name: rng.sample(names[:i], k=min(i, rng.randint(0, 6))) for i, name in enumerate(names)
    }


async def test_a_random_dag_runs_every_job_after_all_its_parents(backend: Backend) -> None:
    skip_without(backend, Dependencies, Inspection)
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    dag = random_dag(60, seed=15)
    failing = "n20"  # its descendants must not run (policy "fail")
    ids: dict[str, str] = {}
    for name, parents in dag.items():  # parents first: each names ids already stored
        node = Node(name=name, fail=name == failing)
        ids[name] = await dispatcher.dispatch(
            node.with_options(depends_on=[ids[p] for p in parents])
        )

    Node.events.clear()
    worker = Worker(driver, ["default"], config=backend.config(), burst=True, handle_signals=False)
    await worker.start()

    doomed = _descendants(dag, failing)
    started = [name for kind, name in Node.events if kind == "start"]
    ended = {name: i for i, (kind, name) in enumerate(Node.events) if kind == "end"}
    assert sorted(started) == sorted(set(dag) - doomed | {failing})  # each ran once
    for name in started:
        begin = Node.events.index(("start", name))
        for parent in dag[name]:
            assert ended[parent] < begin, f"{name} started before its parent {parent} ended"
    assert isinstance(driver, Inspection)
    for name in doomed:
        job = await driver.get(ids[name])
        assert job is not None and job.state is JobState.FAILED
        assert job.error is not None and job.error.startswith("ParentFailed")


def _descendants(dag: dict[str, list[str]], root: str) -> set[str]:
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, parents in dag.items():
            if name not in found and any(p == root or p in found for p in parents):
                found.add(name)
                changed = True
    return found
