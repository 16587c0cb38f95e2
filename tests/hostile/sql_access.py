"""Raw SQL on a test backend's jobs table, as another tool (or a DBA) would run it,
and the corruptions every SQL broker's table can hold.

``{jobs}`` in a statement names the backend's jobs table; parameters are written
``?`` and bound by the broker's own client."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from asynctasq.jobs import Job
from tests.backend_base import Backend
from tests.backends_mysql import admin_connection
from tests.hostile.corruption import Corruption
from tests.hostile.damaged_payloads import DAMAGED_PAYLOADS, UNKNOWN_TASK, DamagedPayload

__all__ = [
    "SQL_PAYLOADS_AND_TASKS",
    "execute",
    "fetch",
    "jobs_table",
    "set_column",
    "update_job",
    "wrong",
]


def jobs_table(backend: Backend) -> str:
    if backend.name == "postgres":
        return f'"{backend.schema}".jobs'  # type: ignore[attr-defined]
    if backend.name == "mysql":
        return f"`{backend.database}`.asynctasq_jobs"  # type: ignore[attr-defined]
    return "asynctasq_jobs"


async def fetch(backend: Backend, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement; its rows (empty for a write)."""
    sql = statement.replace("{jobs}", jobs_table(backend))
    if backend.name == "sqlite":
        with sqlite3.connect(backend.path, timeout=30) as db:  # type: ignore[attr-defined]
            return db.execute(sql, params).fetchall()
    if backend.name == "postgres":
        numbered = iter(range(1, len(params) + 1))
        sql = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)
        con = await asyncpg.connect(backend.dsn)  # type: ignore[attr-defined]
        try:
            return [tuple(row) for row in await con.fetch(sql, *params)]
        finally:
            await con.close()
    if backend.name == "mysql":
        conn = await admin_connection()
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql.replace("%", "%%").replace("?", "%s"), params)
                return list(await cur.fetchall() or ())
        finally:
            conn.close()
    raise ValueError(f"no SQL access to the {backend.name} broker")


async def execute(backend: Backend, statement: str, *params: Any) -> None:
    await fetch(backend, statement, *params)


# -- corruptions of a SQL jobs table (the corrupt_<broker>.py modules) -------------------

Apply = Callable[[Backend, Job], Awaitable[None]]


async def update_job(backend: Backend, job: Job, assignment: str, *params: Any) -> None:
    await execute(backend, f"UPDATE {{jobs}} SET {assignment} WHERE id = ?", *params, job.id)


def set_column(column: str, value: str) -> Apply:
    """``column = value``, an SQL expression ('text' stays text, x'00' is a blob...)."""

    async def apply(backend: Backend, job: Job) -> None:
        await update_job(backend, job, f"{column} = {value}")

    return apply


def wrong(column: str, value: str, reason: str) -> Corruption:
    return Corruption(f"{column} = {value}", set_column(column, value), reason)


def _payload(damaged: DamagedPayload) -> Corruption:
    async def apply(backend: Backend, job: Job) -> None:
        await update_job(backend, job, "payload = ?", damaged.damage(job))

    return Corruption(damaged.name, apply, damaged.reason)


#: what any SQL broker's payload column and task column can hold
SQL_PAYLOADS_AND_TASKS = [
    *(_payload(damaged) for damaged in DAMAGED_PAYLOADS),
    Corruption("unknown task name", set_column("task", f"'{UNKNOWN_TASK}'"), "unknown task"),
    Corruption(
        "task name of odd text", set_column("task", "'t\u00e2che \U0001f600 '';--'"), "unknown task"
    ),
]
