"""The driver's SQL, read once from ``asynctasq/drivers/sql/mysql/``, and its named
statements on the pool as the shared SQL driver runs them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asynctasq.drivers.mysql.database import ER_DUP_ENTRY, Database, data_error, error_code
from asynctasq.drivers.mysql.sqltext import compile_queries
from asynctasq.drivers.sql.loader import load_migrations, load_queries
from asynctasq.drivers.sql.statements import Statements, Step

__all__ = ["MIGRATIONS", "MySQLStatements", "Q"]

Q = compile_queries(load_queries("mysql"))
MIGRATIONS = load_migrations("mysql")


class MySQLStatements(Statements):
    """Each call one pooled connection (retried when lost or a deadlock victim)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def records(self, name: str, **params: Any) -> list[Any]:
        return await self.db.run(lambda s: s.rows(Q[name], **params))

    async def tuples(self, name: str, **params: Any) -> list[Sequence[Any]]:
        rows = await self.db.run(lambda s: s.values(Q[name], **params))
        found: list[Sequence[Any]] = list(rows)
        return found

    async def value(self, name: str, **params: Any) -> Any:
        return await self.db.run(lambda s: s.scalar(Q[name], **params))

    async def change(self, name: str, **params: Any) -> int:
        return await self.db.run(lambda s: s.execute(Q[name], **params))

    async def change_all(self, *steps: Step) -> None:
        await self.db.run(lambda s: s.batch(*[(Q[name], params) for name, params in steps]))

    def unique_conflict(self, exc: BaseException) -> bool:
        return error_code(exc) == ER_DUP_ENTRY

    def data_error(self, exc: BaseException) -> bool:
        return data_error(exc)
