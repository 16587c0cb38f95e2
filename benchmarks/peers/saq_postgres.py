"""SAQ's PostgreSQL queue: ``SELECT ... FOR UPDATE SKIP LOCKED`` with LISTEN/NOTIFY
wake-ups, tables created by the queue itself on connect.

Worker: ``saq benchmarks.peers.saq_postgres.worker_settings``.
"""

from __future__ import annotations

import os

from benchmarks.peers.saq import SaqSystem, settings_for
from benchmarks.suite.protocol import PG_DSN_ENV, OwnPostgresDatabase, pg_dsn

worker_settings = settings_for(os.environ.get(PG_DSN_ENV, "postgresql://postgres@127.0.0.1/saq"))


class SaqPostgresSystem(OwnPostgresDatabase, SaqSystem):
    name = "saq-postgres"
    best_concurrency = 200  # see benchmarks/suite/plan.py: BEST_FROM

    def url(self) -> str:
        return pg_dsn()

    async def setup(self) -> None:
        self.create_database()
        await super().setup()  # connecting creates saq's tables

    async def reset(self) -> None:
        if hasattr(self, "queue"):
            self.truncate(["saq_jobs", "saq_stats"])

    async def teardown(self) -> None:
        await self.queue.disconnect()
        self.drop_database()
