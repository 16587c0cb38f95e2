"""Create and upgrade the queue schema.

Migrations (``sql/postgres/migrations/NNNN_name.sql``) are applied in order, each
recorded in ``<schema>.migrations``, all in one transaction that holds an advisory
lock per schema: two migrators (two workers starting at once, or ``python -m
asynctasq migrate`` twice) queue up, and the second finds nothing left to do. A
migration only ever adds: none drops a table, a column or a row.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from asynctasq.clock import Clock
from asynctasq.drivers.base import DriverError
from asynctasq.drivers.postgres.sql import SchemaSQL

__all__ = ["apply_migrations", "schema_version"]


async def schema_version(con: Any, sql: SchemaSQL) -> int:
    """The latest migration applied to the schema (0: none, or no schema yet)."""
    try:
        version = await con.fetchval(sql["latest_migration"])
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        return 0
    return int(version or 0)


async def apply_migrations(con: Any, sql: SchemaSQL, clock: Clock) -> list[str]:
    """Apply what is missing; returns the migrations applied (``NNNN_name``)."""
    applied: list[str] = []
    try:
        async with con.transaction():
            await con.execute(sql["migration_lock"], sql.migration_lock_key)
            await con.execute(sql["bootstrap"])  # no arguments: several statements at once
            done = {row[0] for row in await con.fetch(sql["applied_migrations"])}
            for migration in sql.migrations:
                if migration.version in done:
                    continue
                await con.execute(migration.script(clock.time()))
                await con.execute(
                    sql["record_migration"], migration.version, migration.name, clock.time()
                )
                applied.append(migration.label)
    except asyncpg.InsufficientPrivilegeError as exc:
        raise DriverError(
            f"cannot create or upgrade the asynctasq schema {sql.schema!r} ({exc}): run "
            "`python -m asynctasq migrate` as a role that may, or grant this role CREATE on "
            "the database"
        ) from exc
    return applied
