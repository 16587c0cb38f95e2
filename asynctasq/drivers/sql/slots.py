"""Concurrency keys on the SQL brokers (capability ConcurrencyKeys), written once for
the three dialects.

Storage (migration ``0007_dedup_concurrency``): ``slots`` holds a (key, job id) row
per job holding a slot of the key, and one (key, '') row per key that a taking
transaction locks first (``FOR UPDATE``; SQLite's one writer serialises it anyway),
so two workers taking the key's last slot queue on it. In that transaction the
holders are read with their jobs' states: a holder whose job is no longer active
(settled, released, its lease lapsed and recovered: a crashed worker) is deleted and
not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from asynctasq.drivers.sql.dependencies import Steps
from asynctasq.drivers.sql.statements import Statements
from asynctasq.jobs import Job

__all__ = ["SQLSlots", "take_slot"]


def take_slot(
    job_id: str, key: str, limit: int
) -> Generator[tuple[str, dict[str, Any]], Any, bool]:
    """Take a slot of ``key`` for ``job_id`` if fewer than ``limit`` active jobs hold
    one (True too when it holds one already)."""
    yield ("slot_reserve", {"key": key})
    yield ("slot_lock", {"key": key})
    rows: Sequence[Sequence[Any]] = yield ("slot_holders", {"key": key})
    live = set()
    for holder, state in rows:
        if state == "active":
            live.add(holder)
        else:
            yield ("slot_give", {"key": key, "job_id": holder})
    if job_id in live:
        return True
    if len(live) >= limit:
        return False
    yield ("slot_take", {"key": key, "job_id": job_id})
    return True


class SQLSlots:
    statements: Statements

    async def _run_fresh_steps(self, make: Callable[[], Steps]) -> Any:
        raise NotImplementedError

    async def acquire_slot(self, job: Job, key: str, limit: int) -> bool:
        return bool(await self._run_fresh_steps(lambda: take_slot(job.id, key, limit)))

    async def release_slot(self, job: Job, key: str) -> None:
        await self.statements.change("slot_give", key=key, job_id=job.id)
