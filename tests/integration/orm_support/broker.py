"""Dispatch tasks to an in-memory broker and drain it with a real burst Worker."""

from __future__ import annotations

from typing import Any

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher, set_dispatcher
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from asynctasq.jobs import Job
from asynctasq.testing import drain


class Broker:
    def __init__(self, **config: Any) -> None:
        self.config = Config(driver="memory", **config)
        self.driver = MemoryDriver(broker=MemoryBroker())

    async def dispatch(self, *tasks: Any) -> list[str]:
        """``await task.dispatch()`` as users write it, into this broker."""
        await self.driver.connect()
        set_dispatcher(Dispatcher(self.driver, self.config))
        return [await task.dispatch() for task in tasks]

    async def drain(self) -> None:
        await drain(self.driver, ["default"], config=self.config)

    async def job(self, job_id: str) -> Job:
        job = await self.driver.get(job_id)
        assert job is not None, job_id
        return job
