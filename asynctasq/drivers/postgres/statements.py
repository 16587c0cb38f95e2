"""The driver's named statements on its pool, as the shared SQL driver runs them:
parameters by name, bound to the ``$n`` each query declares (``sql/postgres/queries.sql``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from asynctasq.drivers.postgres.connection import PoolRunner
from asynctasq.drivers.postgres.sql import SchemaSQL
from asynctasq.drivers.sql.statements import Statements, Step

__all__ = ["PostgresStatements", "data_error", "rowcount"]

#: errors PostgreSQL (or asyncpg, encoding a value) raises for a value it cannot store
#: or a row that breaks a constraint; anything else is not the data's fault
_DATA_ERRORS = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)


def data_error(exc: BaseException) -> bool:
    return isinstance(exc, _DATA_ERRORS)


def rowcount(status: str) -> int:
    """The rows of a command status (``UPDATE 3``, ``SELECT 1``)."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStatements(Statements):
    def __init__(self, db: PoolRunner, sql: SchemaSQL) -> None:
        self.db = db
        self.sql = sql

    async def records(self, name: str, **params: Any) -> list[Any]:
        return await self.db.fetch(self.sql[name], *self.sql.positional(name, params))

    async def tuples(self, name: str, **params: Any) -> list[Sequence[Any]]:
        return await self.records(name, **params)  # an asyncpg Record is both

    async def value(self, name: str, **params: Any) -> Any:
        return await self.db.fetchval(self.sql[name], *self.sql.positional(name, params))

    async def change(self, name: str, **params: Any) -> int:
        status = await self.db.execute(self.sql[name], *self.sql.positional(name, params))
        return rowcount(status)

    async def change_all(self, *steps: Step) -> None:
        async def run(con: Any) -> None:
            for name, params in steps:
                await con.execute(self.sql[name], *self.sql.positional(name, params))

        await self.db.run(run)

    def unique_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, asyncpg.UniqueViolationError)

    def data_error(self, exc: BaseException) -> bool:
        return data_error(exc)
