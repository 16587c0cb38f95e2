"""Find the aiomysql connection behind what a caller passes as ``connection=``.

Enqueueing on the caller's own connection puts the jobs inside the caller's
transaction: they exist only if it commits.
"""

from __future__ import annotations

from typing import Any

__all__ = ["caller_connection"]

_ACCEPTED = (
    "an aiomysql connection, or a SQLAlchemy AsyncConnection or AsyncSession on the "
    "mysql+aiomysql dialect"
)


def _is_aiomysql(conn: Any) -> bool:
    return type(conn).__module__.startswith("aiomysql") and hasattr(conn, "escape_string")


async def caller_connection(connection: Any) -> Any:
    """The aiomysql connection of ``connection`` (itself, or what SQLAlchemy wraps)."""
    if _is_aiomysql(connection):
        return connection
    module = type(connection).__module__
    if module.startswith("sqlalchemy"):
        if hasattr(connection, "sync_session"):  # AsyncSession: its connection, begun
            connection = await connection.connection()
        if hasattr(connection, "get_raw_connection"):  # AsyncConnection
            raw = await connection.get_raw_connection()
            driver_conn = raw.driver_connection
            if _is_aiomysql(driver_conn):
                return driver_conn
            raise TypeError(
                f"connection= uses the SQLAlchemy dialect "
                f"{connection.dialect.name}+{connection.dialect.driver}: the mysql driver "
                f"enqueues in transactions of {_ACCEPTED}"
            )
    raise TypeError(f"connection= must be {_ACCEPTED}; got {type(connection).__name__}")
