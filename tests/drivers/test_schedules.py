"""Schedules on every broker that stores them: each slot fires exactly once.

Written to move into ``asynctasq.testing.conformance`` later: parametrised on the
``backend`` fixture, skipped by capability name. Time is a ManualClock: the tests
move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from asynctasq.clock import ManualClock
from asynctasq.core.scheduling.scheduler import Scheduler, register
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, Schedules
from asynctasq.jobs import JobState
from asynctasq.schedules import Missed, Schedule, slot_job_id
from tests.backends import Backend
from tests.conftest import skip_without

START = 1_700_000_040.0  # a whole minute in the past: slot jobs are due at once


async def _drivers(backend: Backend, clock: ManualClock, n: int) -> list[Driver]:
    skip_without(backend, Schedules, Inspection)
    return [await backend.new_driver(**_clock_option(backend, clock)) for _ in range(n)]


def _clock_option(backend: Backend, clock: ManualClock) -> dict[str, object]:
    return {} if backend.name == "memory" else {"clock": clock}


async def _waiting(driver: Driver, queue: str = "default") -> list[str]:
    assert isinstance(driver, Inspection)
    jobs = await driver.list_jobs(queue, JobState.PENDING, limit=1000)
    return sorted(job.id for job in jobs)


def _every(seconds: float, **fields: object) -> Schedule:
    return Schedule(id="tick", task="tests.sample_tasks.add", payload=b"x", every=seconds, **fields)  # type: ignore[arg-type]


async def test_three_schedulers_fire_each_slot_once(backend: Backend) -> None:
    clock = ManualClock(START)
    drivers = await _drivers(backend, clock, 3)
    await register(drivers[0], [_every(1.0)], clock.time())
    schedulers = [Scheduler(d, clock=clock) for d in drivers]
    fired: list[str] = []
    for _ in range(20):
        clock.advance(1.0)
        for ids in await asyncio.gather(*(s.tick() for s in schedulers)):
            fired += ids
    slots = [START + i for i in range(1, 21)]
    expected = sorted(slot_job_id("tick", slot) for slot in slots)
    assert sorted(fired) == expected
    assert await _waiting(drivers[0]) == expected


async def test_run_all_catches_up_an_outage(backend: Backend) -> None:
    clock = ManualClock(START)
    [driver] = await _drivers(backend, clock, 1)
    await register(driver, [_every(1.0, missed=Missed.RUN_ALL)], clock.time())
    clock.advance(10.0)  # ten slots pass while no scheduler runs
    fired = await Scheduler(driver, clock=clock).tick()
    assert sorted(fired) == sorted(slot_job_id("tick", START + i) for i in range(1, 11))
    assert await Scheduler(driver, clock=clock).tick() == []  # nothing due twice


async def test_missed_slots_skip_or_run_once(backend: Backend) -> None:
    clock = ManualClock(START)
    [driver] = await _drivers(backend, clock, 1)
    daily = {"task": "t", "payload": b"", "cron": "0 0 * * *"}
    skip = Schedule(id="skip", **daily)  # type: ignore[arg-type]
    once = Schedule(id="once", missed=Missed.RUN_ONCE, **daily)  # type: ignore[arg-type]
    await register(driver, [skip, once], clock.time())
    clock.advance(3 * 86_400 + 7_200)  # three midnights pass, the last two hours ago
    fired = await Scheduler(driver, clock=clock).tick()
    last_midnight = dt.datetime.fromtimestamp(clock.time(), dt.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    assert fired == [slot_job_id("once", last_midnight.timestamp())]
    store = driver
    assert isinstance(store, Schedules)
    for schedule in await store.list_schedules():  # both move on to the next midnight
        assert schedule.next_at == last_midnight.timestamp() + 86_400


async def test_pause_resume_remove_and_reregister(backend: Backend) -> None:
    clock = ManualClock(START)
    [driver] = await _drivers(backend, clock, 1)
    assert isinstance(driver, Schedules)
    await register(driver, [_every(5.0)], clock.time())
    [stored] = await driver.list_schedules()
    assert stored.next_at == START + 5 and not stored.paused
    assert await driver.pause_schedule("tick", True)
    clock.advance(5.0)
    await register(driver, [_every(5.0)], clock.time())  # unchanged: keeps its state
    assert (await driver.list_schedules())[0].paused
    assert await Scheduler(driver, clock=clock).tick() == []
    assert await driver.pause_schedule("tick", False)
    assert await Scheduler(driver, clock=clock).tick() == [slot_job_id("tick", START + 5)]
    assert await driver.remove_schedule("tick")
    assert not await driver.remove_schedule("tick")
    assert not await driver.pause_schedule("tick", True)
    assert await driver.list_schedules() == []


async def test_a_changed_definition_replaces_the_stored_one(backend: Backend) -> None:
    clock = ManualClock(START)
    [driver] = await _drivers(backend, clock, 1)
    assert isinstance(driver, Schedules)
    await register(driver, [_every(5.0)], clock.time())
    await register(driver, [_every(7.0)], clock.time())
    [stored] = await driver.list_schedules()
    assert stored.every == 7.0 and stored.next_at == 7.0 * (START // 7.0 + 1)


def test_a_schedule_needs_exactly_one_of_cron_and_every() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Schedule(id="x", task="t", payload=b"")
    with pytest.raises(ValueError, match="not a cron"):
        Schedule(id="x", task="t", payload=b"", cron="every day")
