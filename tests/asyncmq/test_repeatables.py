"""``Queue.add_repeatable`` and friends (the reference documentation's spellings):
stored in the broker, listed with their next fire time, paused, resumed, removed."""

from __future__ import annotations

import math
import time

import pytest

from asynctasq.clock import ManualClock
from asynctasq.core.scheduling import Scheduler
from asynctasq.drivers.capabilities import CapabilityMissing, Inspection
from asynctasq.queues import Queue
from asynctasq.schedules import Missed
from asynctasq.serialization.payload import decode_payload
from tests.asyncmq import tasks
from tests.backend_base import Backend
from tests.conftest import only_backends


@only_backends("memory", "redis", "sqlite", "postgres", "mysql", "mongodb")
async def test_add_list_pause_resume_remove(backend: Backend) -> None:
    driver = await backend.new_driver()
    queue = Queue("reports", backend=driver)
    every = await queue.add_repeatable("app.report", every=60, kwargs={"kind": "short"})
    cron = await queue.add_repeatable(
        "app.report", every="0 3 * * *", id="nightly", timezone="Europe/Paris",
        missed="run_all",
    )  # fmt: skip
    assert (every, cron) == ("reports:app.report", "nightly")
    listed = {s.id: s for s in await queue.list_repeatables()}
    assert listed["nightly"].cron == "0 3 * * *" and listed["nightly"].missed is Missed.RUN_ALL
    assert listed[every].every == 60.0
    assert listed[every].next_at == (math.floor(time.time() / 60) + 1) * 60

    await queue.pause_repeatable("nightly")
    assert {s.id: s.paused for s in await queue.list_repeatables()} == {
        every: False,
        "nightly": True,
    }
    await queue.resume_repeatable("nightly")
    await queue.remove_repeatable(every)
    assert [s.id for s in await queue.list_repeatables()] == ["nightly"]
    assert await Queue("other", backend=driver).list_repeatables() == []


@only_backends("memory", "redis", "sqlite", "postgres", "mysql", "mongodb")
async def test_a_due_repeatable_enqueues_its_arguments(backend: Backend) -> None:
    driver = await backend.new_driver()
    queue = Queue("reports", backend=driver)
    await queue.add_repeatable("app.report", every=60, kwargs={"kind": "short"})
    later = ManualClock(time.time() + 60)  # its first slot has come
    [job_id] = await Scheduler(driver, clock=later).tick()
    assert isinstance(driver, Inspection)
    job = await driver.get(job_id)
    assert job is not None and job.task == "app.report" and job.queue == "reports"
    assert job.run_at == later.time()  # due at its slot, by the scheduler's clock


@only_backends("rabbitmq")
async def test_a_broker_without_schedules_says_so(backend: Backend) -> None:
    queue = Queue("reports", backend=await backend.new_driver())
    with pytest.raises(CapabilityMissing, match="Schedules"):
        await queue.add_repeatable("app.report", every=60)


@only_backends("memory", "redis")
async def test_a_decorated_function_schedules_itself_with_arguments(backend: Backend) -> None:
    driver = await backend.new_driver()
    schedule_id = await tasks.send_email.schedule(
        cron="*/5 * * * *", timezone="Europe/Paris", args=["ops@example.com"],
        kwargs={"subject": "status"}, backend=driver,
    )  # fmt: skip
    assert schedule_id == tasks.send_email.task_name
    first_slot = (math.floor(time.time() / 300) + 1) * 300
    later = ManualClock(first_slot + 1.0)  # the first slot has just come
    [job_id] = await Scheduler(driver, clock=later).tick()
    assert isinstance(driver, Inspection)
    job = await driver.get(job_id)
    assert job is not None and job.task == tasks.send_email.task_name
    args, options = decode_payload(job.payload)
    assert args == {"to": "ops@example.com", "subject": "status"}
    assert options["scheduled_for"] == first_slot
