"""The "mongodb" backend: the local server (ASYNCTASQ_TEST_MONGODB_URL, default
127.0.0.1:27017), one database per test, dropped afterwards.

CI runs SecantusDB, a MongoDB-wire-compatible server in Python that presents itself
as a one-node replica set (scripts/ensure-services.sh starts it): transactions and
change streams work, but every claim scans the collection, so tests on this backend
keep to a few hundred jobs (``max_jobs``) and make no claim about speed.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pymongo import AsyncMongoClient

from asynctasq.config import Config
from asynctasq.drivers.base import Driver
from asynctasq.drivers.mongodb import MongoDBDriver
from asynctasq.redaction import redact
from tests.backend_base import Backend
from tests.services import missing_service

URL = os.environ.get(
    "ASYNCTASQ_TEST_MONGODB_URL", "mongodb://127.0.0.1:27017/?directConnection=true"
)


def client() -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(URL, serverSelectionTimeoutMS=5000)


class MongoDBBackend(Backend):
    name = "mongodb"
    url = URL
    #: the most jobs a test should store here (the test server scans on every claim)
    max_jobs = 300
    #: how many times longer than the other brokers its set-up work may take
    slowness = 3

    @property
    def database(self) -> str:
        return f"asynctasq_{self.namespace}"

    def make_driver(self, **options: Any) -> Driver:
        return MongoDBDriver(self.url, database=self.database, **options)

    def config(self, **overrides: Any) -> Config:
        return Config(
            driver="mongodb", mongodb_url=self.url, mongodb_database=self.database, **overrides
        )

    def env(self) -> dict[str, str]:
        return {
            "ASYNCTASQ_DRIVER": "mongodb",
            "ASYNCTASQ_MONGODB_URL": self.url,
            "ASYNCTASQ_MONGODB_DATABASE": self.database,
        }

    _raw: AsyncMongoClient[dict[str, Any]] | None = None

    def raw_jobs(self) -> Any:
        """The jobs collection, as another tool would reach it (one client per test)."""
        if self._raw is None:
            self._raw = client()
        return self._raw[self.database]["asynctasq_jobs"]

    async def setup(self) -> None:
        mongo = client()
        try:
            await asyncio.wait_for(mongo.admin.command("ping"), 10)
        except Exception as exc:
            missing_service(
                f"MongoDB not reachable at {redact(self.url)} ({type(exc).__name__}: "
                f"{str(exc).split(',')[0]})"
            )
        finally:
            await mongo.close()

    async def drop(self) -> None:
        if self._raw is not None:
            await self._raw.close()
        mongo = client()
        try:
            await mongo.drop_database(self.database)
        finally:
            await mongo.close()


BACKENDS_EXTRA = {"mongodb": MongoDBBackend}
