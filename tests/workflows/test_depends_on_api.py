"""depends_on where jobs are created: task classes, Queue.add, and a clear error on a
driver without the Dependencies capability."""

from __future__ import annotations

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.capabilities import CapabilityMissing
from asynctasq.drivers.dependencies import UnknownParent
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import JobState, new_job_id
from asynctasq.queues import Queue
from asynctasq.tasks import AsyncTask
from tests.unit.test_worker import CoreOnly  # the memory broker's core, no capability


class Step(AsyncTask[int]):
    n: int

    async def execute(self) -> int:
        return self.n


async def test_dispatch_with_depends_on_blocks_until_the_parent_completes() -> None:
    driver = MemoryDriver()
    await driver.connect()
    dispatcher = Dispatcher(driver)
    parent = await dispatcher.dispatch(Step(n=1))
    child = await dispatcher.dispatch(Step(n=2).with_options(depends_on=[parent]))
    stored = await driver.get(child)
    assert stored is not None and stored.state is JobState.BLOCKED
    assert stored.depends_on == (parent,) and stored.on_parent_failure == "fail"
    with pytest.raises(UnknownParent):
        await dispatcher.dispatch(Step(n=3).with_options(depends_on=[new_job_id()]))


async def test_a_wrong_policy_or_a_bare_id_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="on_parent_failure"):
        Step(n=1).with_options(on_parent_failure="ignore")
    with pytest.raises(TypeError, match="list of job ids"):
        Step(n=1).with_options(depends_on="some-id")


async def test_queue_add_takes_depends_on() -> None:
    driver = MemoryDriver()
    await driver.connect()
    queue = Queue("q", backend=driver)
    first = await queue.add("app.first", kwargs={})
    second = await queue.add(
        "app.second", kwargs={}, depends_on=[first], on_parent_failure="cancel"
    )
    stored = await driver.get(second)
    assert stored is not None and stored.state is JobState.BLOCKED
    assert stored.on_parent_failure == "cancel"


async def test_a_driver_without_the_capability_refuses_depends_on_by_name() -> None:
    driver = CoreOnly(MemoryDriver())
    await driver.connect()
    dispatcher = Dispatcher(driver)
    parent = await dispatcher.dispatch(Step(n=1))
    with pytest.raises(CapabilityMissing, match="Dependencies"):
        await dispatcher.dispatch(Step(n=2).with_options(depends_on=[parent]))
    assert [
        j.id for j in await driver.claim(["default"], limit=9, worker_id="w", lease_seconds=9)
    ] == [parent]
