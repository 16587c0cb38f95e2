"""``enqueue(jobs, connection=...)``: find the asyncpg connection behind what the caller
passed, so the insert runs inside the caller's open transaction.

Accepted: an asyncpg ``Connection`` (or a pool's connection proxy), and SQLAlchemy's
``AsyncConnection`` or ``AsyncSession`` on the asyncpg dialect
(``postgresql+asyncpg://``).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = ["raw_connection"]

_ACCEPTED = (
    "an asyncpg Connection, or a SQLAlchemy AsyncConnection / AsyncSession on the "
    "asyncpg dialect (postgresql+asyncpg://)"
)


async def raw_connection(connection: Any) -> Any:
    """The asyncpg connection to run the insert on, inside the caller's transaction."""
    if isinstance(connection, asyncpg.Connection | PoolConnectionProxy):
        return connection
    if type(connection).__module__.startswith("sqlalchemy"):
        return await _from_sqlalchemy(connection)
    raise TypeError(
        f"connection= got {type(connection).__qualname__}; the postgres driver enqueues "
        f"through {_ACCEPTED}"
    )


async def _from_sqlalchemy(obj: Any) -> Any:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    if isinstance(obj, AsyncSession):
        obj = await obj.connection()  # the session's transaction, begun if need be
    if not isinstance(obj, AsyncConnection):
        raise TypeError(f"connection= got SQLAlchemy {type(obj).__qualname__}: pass {_ACCEPTED}")
    driver = obj.dialect.driver
    if driver != "asyncpg":
        raise TypeError(
            f"connection= uses the SQLAlchemy {obj.dialect.name}+{driver} dialect: "
            "transactional enqueue needs postgresql+asyncpg:// (create_async_engine"
            '("postgresql+asyncpg://..."))'
        )
    raw = (await obj.get_raw_connection()).driver_connection
    if raw is None:
        raise TypeError("connection= is a SQLAlchemy connection that is already closed")
    if not raw.is_in_transaction():
        # SQLAlchemy begins the database transaction lazily, at the first statement:
        # run one through it, so our insert joins the transaction the caller commits
        # or rolls back (with AUTOCOMMIT isolation there is none, and the job is stored
        # at once, as any other statement would be)
        await obj.exec_driver_sql("SELECT 1")
    return raw
