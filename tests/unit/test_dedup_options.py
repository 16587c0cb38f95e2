"""Deduplication options as users spell them (docs/flow-control.md): on @task, in a
class's config, on ``with_options`` and on ``Queue.add``; checked at definition or
dispatch; a mode the broker cannot apply fails with CapabilityMissing."""

from __future__ import annotations

from typing import Any

import pytest

from asynctasq import AsyncTask, task
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.capabilities import CapabilityMissing
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from asynctasq.jobs import JobState
from asynctasq.queues import Queue


@task(unique_key=lambda t: f"sync:{t.account}", unique_mode="until_started")
async def sync_account(account: int) -> None: ...


@task
async def plain() -> None: ...


class Reindex(AsyncTask[None]):
    config = {"unique_key": "reindex", "unique_mode": "debounce", "unique_for": 30}

    async def execute(self) -> None: ...


async def _dispatcher() -> tuple[MemoryDriver, Dispatcher]:
    driver = MemoryDriver(broker=MemoryBroker())
    await driver.connect()
    return driver, Dispatcher(driver, Config(driver="memory"), coalesce=False)


async def test_a_callable_key_on_task_refuses_duplicates_of_one_account() -> None:
    driver, dispatcher = await _dispatcher()
    first = await dispatcher.dispatch(sync_account(1))
    assert await dispatcher.dispatch(sync_account(1)) == first
    assert await dispatcher.dispatch(sync_account(2)) != first
    job = await driver.get(first)
    assert job is not None and job.unique_key == "sync:1"


async def test_debounce_in_config_delays_and_replaces() -> None:
    driver, dispatcher = await _dispatcher()
    first = await dispatcher.dispatch(Reindex())
    job = await driver.get(first)
    assert job is not None and job.state is JobState.SCHEDULED  # waits one window
    assert await dispatcher.dispatch(Reindex()) == first


async def test_with_options_overrides_the_config() -> None:
    _, dispatcher = await _dispatcher()
    a = await dispatcher.dispatch(Reindex().with_options(unique_mode="throttle", unique_for=5))
    assert await dispatcher.dispatch(Reindex().with_options(unique_key="other")) != a


async def test_queue_add_takes_the_options() -> None:
    driver = MemoryDriver(broker=MemoryBroker())
    await driver.connect()
    queue = Queue("reports", backend=driver)
    spec: dict[str, Any] = {"unique_key": "r", "unique_mode": "throttle", "unique_for": 60}
    first = await queue.add("app.unknown_task", kwargs={"day": 1}, **spec)
    assert await queue.add("app.unknown_task", kwargs={"day": 2}, **spec) == first


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"unique_key": "k", "unique_mode": "sometimes"}, "not valid"),
        ({"unique_key": "k", "unique_mode": "throttle"}, "needs unique_for"),
        ({"unique_key": "k", "unique_mode": "until_started", "unique_for": 3}, "means nothing"),
        ({"unique_mode": "throttle", "unique_for": 3}, "needs a unique_key"),
    ],
)
async def test_bad_options_fail_at_dispatch(options: dict[str, Any], message: str) -> None:
    _, dispatcher = await _dispatcher()
    with pytest.raises(ValueError, match=message):
        await dispatcher.dispatch(plain().with_options(**options))


def test_bad_config_fails_at_definition() -> None:
    with pytest.raises(ValueError, match="needs unique_for"):

        class Bad(AsyncTask[None]):
            config = {"unique_key": "k", "unique_mode": "debounce"}

            async def execute(self) -> None: ...


async def test_a_mode_the_broker_lacks_fails_with_capability_missing() -> None:
    class ThrottleOnly(MemoryDriver):
        dedup_modes = frozenset({"throttle"})

    driver = ThrottleOnly(broker=MemoryBroker())
    await driver.connect()
    dispatcher = Dispatcher(driver, Config(driver="memory"), coalesce=False)
    with pytest.raises(CapabilityMissing, match="unique_mode='debounce'"):
        await dispatcher.dispatch(Reindex())
