"""Concurrency key options as users spell them (docs/flow-control.md): on @task, in a
class's config, on ``with_options`` and on ``Queue.add``; the dispatcher works the key
out and the job carries it, with its limit, to the worker's concurrency_keys
middleware."""

from __future__ import annotations

from typing import Any

import pytest

from asynctasq import AsyncTask, task
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.middleware.concurrency import KEY_OPTION, LIMIT_OPTION
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from asynctasq.queues import Queue
from asynctasq.serialization.payload import decode_payload


@task(concurrency_key=lambda t: f"account:{t.account}")
async def sync(account: int) -> None: ...


@task(max_concurrency=3)
async def limited() -> None: ...


class Export(AsyncTask[None]):
    config = {"concurrency_key": "exports", "max_concurrency": 2}

    async def execute(self) -> None: ...


async def _options(task_instance: Any) -> dict[str, Any]:
    driver = MemoryDriver(broker=MemoryBroker())
    await driver.connect()
    job = Dispatcher(driver, Config(driver="memory")).build_job(task_instance)
    _, options = decode_payload(job.payload)
    return {k: options[k] for k in (KEY_OPTION, LIMIT_OPTION) if k in options}


async def test_a_key_function_reads_the_arguments() -> None:
    assert await _options(sync(7)) == {KEY_OPTION: "account:7", LIMIT_OPTION: 1}


async def test_a_limit_alone_keys_on_the_task() -> None:
    assert await _options(limited()) == {KEY_OPTION: f"task:{limited.task_name}", LIMIT_OPTION: 3}


async def test_config_and_with_options() -> None:
    assert await _options(Export()) == {KEY_OPTION: "exports", LIMIT_OPTION: 2}
    overridden = Export().with_options(concurrency_key="vip", max_concurrency=5)
    assert await _options(overridden) == {KEY_OPTION: "vip", LIMIT_OPTION: 5}


async def test_no_key_carries_nothing() -> None:
    @task
    async def plain() -> None: ...

    assert await _options(plain()) == {}


async def test_queue_add_carries_a_key_for_a_task_unknown_here() -> None:
    driver = MemoryDriver(broker=MemoryBroker())
    await driver.connect()
    job_id = await Queue("q", backend=driver).add(
        "elsewhere.task", kwargs={}, concurrency_key="k", max_concurrency=4
    )
    job = await driver.get(job_id)
    assert job is not None
    _, options = decode_payload(job.payload)
    assert (options[KEY_OPTION], options[LIMIT_OPTION]) == ("k", 4)


def test_a_bad_limit_fails() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        sync(1).with_options(max_concurrency=0)
