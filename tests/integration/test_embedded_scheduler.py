"""Workers fire the schedules of their code themselves: no beat process. Three
workers share one broker and a ManualClock; each slot runs once."""

from __future__ import annotations

import asyncio
import time

from asynctasq import AsyncTask, Config, Worker
from asynctasq.clock import ManualClock
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from asynctasq.schedules import Schedule

RUNS: list[float | None] = []


class Tick(AsyncTask[None]):
    config = {"queue": "ticks", "repeat_every": 1.0}

    async def execute(self) -> None:
        RUNS.append(self.scheduled_for)  # the slot this run covers


async def test_three_workers_run_each_slot_of_a_task_schedule_once() -> None:
    RUNS.clear()
    start = float(int(time.time()) - 3600)  # a whole second in the past: due at once
    clock = ManualClock(start)
    broker = MemoryBroker()
    workers = [
        Worker(MemoryDriver(broker=broker), ["ticks"], config=Config(), clock=clock,
               handle_signals=False)
        for _ in range(3)
    ]  # fmt: skip
    running = [asyncio.create_task(w.start()) for w in workers]
    try:
        driver = MemoryDriver(broker=broker)
        await driver.connect()
        stored: list[Schedule] = []
        for _ in range(200):  # the workers store the schedule of @task(repeat_every=)
            stored = await driver.list_schedules()
            if any(s.id == Tick.task_name for s in stored):
                break
            await asyncio.sleep(0.01)
        # (tasks other tests imported into this process store theirs too)
        assert Tick.task_name in [s.id for s in stored]
        for slot in range(1, 6):
            clock.advance(1.0)
            for _ in range(300):
                if len(RUNS) >= slot:
                    break
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # room for a duplicate to show up
        assert sorted(RUNS) == [start + slot for slot in range(1, 6)]  # type: ignore[type-var]
    finally:
        for w in workers:
            w.stop()
        await asyncio.wait_for(asyncio.gather(*running), 10)
