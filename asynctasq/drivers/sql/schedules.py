"""The SQL drivers' schedules (capability Schedules): one row per schedule in the
``schedules`` table (migration 0003_time_control). Firing a slot is the dialect's
``_fire``: the compare-and-set of ``next_at`` (statement ``schedule_advance``) and
the insert of the slot's jobs in one transaction."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from asynctasq.drivers.capabilities import Schedules
from asynctasq.drivers.sql.statements import Statements
from asynctasq.jobs import Job
from asynctasq.schedules import Schedule

__all__ = ["SQLSchedules"]


class SQLSchedules(Schedules):
    statements: Statements

    async def save_schedule(self, schedule: Schedule) -> None:
        await self.statements.change(
            "schedule_save",
            id=schedule.id,
            queue=schedule.queue,
            definition=schedule.definition(),
            next_at=schedule.next_at,
            paused=schedule.paused,
        )

    async def list_schedules(self) -> list[Schedule]:
        rows = await self.statements.tuples("schedule_list")
        return [
            Schedule.stored(definition, next_at, paused) for definition, next_at, paused in rows
        ]

    async def remove_schedule(self, schedule_id: str) -> bool:
        return await self.statements.change("schedule_remove", id=schedule_id) > 0

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        # asked first: MySQL counts a row set to the value it holds as unchanged
        if await self.statements.value("schedule_definition", id=schedule_id) is None:
            return False
        await self.statements.change("schedule_pause", id=schedule_id, paused=paused)
        return True

    async def fire_schedule(
        self, schedule: Schedule, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        return await self._fire(schedule.id, expected, next_at, jobs)

    @abc.abstractmethod
    async def _fire(
        self, schedule_id: str, expected: float, next_at: float, jobs: Sequence[Job]
    ) -> bool:
        """In one transaction: ``schedule_advance``, and if it changed a row, the
        insert of ``jobs``; whether it did."""
