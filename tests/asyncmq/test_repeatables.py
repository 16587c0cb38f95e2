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
    # the fields of AsyncMQ's entries: id, task_id, every or cron, next_run_at, paused
    entry = listed[every]
    assert (entry.id, entry.task_id, entry.every, entry.cron, entry.paused) == (
        every, "app.report", 60.0, None, False,
    )  # fmt: skip
    assert entry.next_run_at == entry.next_at

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


@only_backends("memory", "sqlite", "redis")
async def test_enqueue_with_repeat_every_runs_now_and_stores_one_repeat(backend: Backend) -> None:
    """``fn.enqueue(..., repeat_every=)``: the job now (its id returned) and a schedule
    with the same arguments every N seconds; enqueueing the same repeat again (an app
    that starts again) keeps one schedule."""
    from asynctasq.tasks.function import repeat_schedule_id

    driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    job_id = await tasks.add.enqueue(2, 3, backend=driver, repeat_every=30)
    again = await tasks.add.enqueue(2, 3, backend=driver, repeat_every=30)
    other = await tasks.add.enqueue(4, 5, backend=driver, repeat_every=30)
    job = await driver.get(job_id)
    assert job is not None and job.task == "amq.add" and job_id != again
    repeats = {s.id: s for s in await Queue("default", backend=driver).list_repeatables()}
    first = repeat_schedule_id(tasks.add(a=2, b=3), 30.0)
    assert set(repeats) == {first, repeat_schedule_id(tasks.add(a=4, b=5), 30.0)}
    assert first.startswith("amq.add:every-30s:")
    assert repeats[first].every == 30.0 and repeats[first].task_id == "amq.add"
    later = ManualClock(repeats[first].next_at)  # its first slot has come
    fired = await Scheduler(driver, clock=later).tick()
    payloads = set()
    for fired_id in fired:
        fired_job = await driver.get(fired_id)
        assert fired_job is not None
        payloads.add(tuple(sorted(decode_payload(fired_job.payload)[0].items())))
    assert payloads == {(("a", 2), ("b", 3)), (("a", 4), ("b", 5))}
    assert other


async def test_enqueue_repeat_every_refuses_what_it_cannot_honour() -> None:
    with pytest.raises(TypeError, match="repeat cannot wait"):
        await tasks.add.enqueue(1, 2, backend="memory://", repeat_every=5, depends_on=["x"])
    with pytest.raises(ValueError, match="repeat_every"):
        await tasks.add.enqueue(1, 2, backend="memory://", repeat_every=0)
