"""Versioned migrations (``sql/mysql/migrations/NNNN_name.sql``), applied in order and
recorded in ``asynctasq_migrations``.

Migrators serialise on ``GET_LOCK`` (one lock per database, released by the server if
the connection dies): two workers starting at once, or ``python -m asynctasq migrate``
run twice, queue up and the second finds nothing to do. MySQL commits each DDL
statement on its own, so a migration is not atomic: each statement is written to be
safe to run again (``IF NOT EXISTS``) and the version is recorded last, so a migration
cut short is applied again from the start. Migrations only ever add: none drops a
table, a column or a row.
"""

from __future__ import annotations

import hashlib

from asynctasq.clock import Clock
from asynctasq.drivers.base import DriverError
from asynctasq.drivers.mysql.database import ER_NO_SUCH_TABLE, Database, error_code
from asynctasq.drivers.mysql.session import Session
from asynctasq.drivers.mysql.statements import MIGRATIONS, Q
from asynctasq.drivers.sql.loader import split_statements

__all__ = ["LATEST", "apply_migrations", "schema_version"]

LATEST = MIGRATIONS[-1].version if MIGRATIONS else 0
#: how long a migrator waits for another one to finish
LOCK_TIMEOUT = 120
_DENIED = frozenset({1044, 1142, 1227})  # access denied to the database / command
#: a constraint of that name exists (MariaDB, MySQL): an ALTER that adds constraints is
#: atomic, so a migration cut short after it finds it done when run again
_ALREADY_THERE = frozenset({1826, 3822})


async def schema_version(db: Database) -> int:
    """The latest migration applied (0: none, or no migrations table yet)."""

    async def read(session: Session) -> int:
        try:
            return max((row[0] for row in await session.values(Q["applied_migrations"])), default=0)
        except Exception as exc:
            if error_code(exc) == ER_NO_SUCH_TABLE:
                return 0
            raise

    return await db.run(read)


def _lock_name(database: str) -> str:
    # lock names are server-wide and at most 64 characters
    digest = hashlib.sha1(database.encode()).hexdigest()[:16]
    return f"asynctasq:migrate:{digest}"


async def apply_migrations(db: Database, clock: Clock) -> list[str]:
    """Apply what is missing; returns the migrations applied (``NNNN_name``)."""
    lock = _lock_name(db.settings.database)
    async with db.connection() as session:
        if await session.scalar(Q["get_lock"], lock=lock, timeout=LOCK_TIMEOUT) != 1:
            raise DriverError(
                f"another process has been migrating {db.settings.where} for over "
                f"{LOCK_TIMEOUT}s; try again when it is done"
            )
        try:
            return await _apply(session, clock)
        except Exception as exc:
            if error_code(exc) in _DENIED:
                raise DriverError(
                    f"the MySQL user cannot create the asynctasq tables in "
                    f"{db.settings.where} ({exc}): run `python -m asynctasq migrate` as a "
                    "user that may, or grant this one CREATE and INDEX on the database"
                ) from exc
            raise
        finally:
            if not session.conn.closed:
                await session.scalar(Q["release_lock"], lock=lock)


async def _apply(session: Session, clock: Clock) -> list[str]:
    await session.execute(Q["create_migrations_table"])
    done = {row[0] for row in await session.values(Q["applied_migrations"])}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in split_statements(migration.script(clock.time())):
            try:
                await session.execute_sql(statement)
            except Exception as exc:
                if error_code(exc) not in _ALREADY_THERE:
                    raise
        await session.execute(
            Q["record_migration"],
            version=migration.version,
            name=migration.name,
            applied_at=clock.time(),
        )
        applied.append(migration.label)
    return applied
