"""Vacuum the jobs table between autovacuum runs, so claims stay fast.

Every claim leaves a dead row version behind, and its entry in ``jobs_claim`` stays
in the index until a vacuum removes it. A claim reads the index from its start, so it
walks over every job claimed since the last vacuum: 50,000 of them make a one-row
claim take milliseconds instead of a fraction of one. Autovacuum wakes at most once a
minute (``autovacuum_naptime``), which at thousands of jobs a second is far too late.

So each driver counts the jobs it claims and, every ``every`` of them, runs a
``VACUUM`` of the jobs table in the background, unless another process is already
doing so (a non-blocking advisory lock). It never takes a lock that could stall
workers (``SKIP_LOCKED``, no truncation). A role that does not own the table cannot
vacuum it; the server then skips it with a warning and autovacuum alone does the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from asynctasq.drivers.postgres.connection import PoolRunner
from asynctasq.drivers.postgres.sql import SchemaSQL

__all__ = ["Vacuum"]

log = logging.getLogger("asynctasq.drivers.postgres")


class Vacuum:
    def __init__(self, db: PoolRunner, sql: SchemaSQL, every: int) -> None:
        self.db = db
        self.sql = sql
        self.every = every
        self.runs = 0  # vacuums this driver ran, for tests and curious operators
        self._claimed = 0
        self._task: asyncio.Task[None] | None = None

    def claimed(self, count: int) -> None:
        """Count claimed jobs; start a vacuum when enough have piled up."""
        if self.every <= 0:
            return
        self._claimed += count
        if self._claimed >= self.every and self._task is None:
            self._claimed = 0
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="asynctasq-postgres-vacuum"
            )

    async def _run(self) -> None:
        try:
            if await self.db.run(self._vacuum):
                self.runs += 1
        except Exception as exc:  # maintenance only: the next round tries again
            log.debug("vacuum of %s.jobs skipped: %s: %s", self.sql.schema, type(exc).__name__, exc)
        finally:
            self._task = None

    async def _vacuum(self, con: Any) -> bool:
        key = self.sql.vacuum_lock_key
        if not await con.fetchval(self.sql["vacuum_lock"], key):
            return False  # another process is vacuuming right now
        try:
            await con.execute(self.sql["vacuum"])  # no arguments: outside any transaction
        finally:
            await con.execute(self.sql["vacuum_unlock"], key)
        return True

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
