"""MySQL schema: versioned migrations, safe twice and concurrently, and schema.sql
describing what they build."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from asynctasq.drivers.base import DriverError
from asynctasq.drivers.mysql import MySQLDriver
from asynctasq.drivers.mysql.statements import Q
from asynctasq.drivers.sql.loader import load_migrations, split_statements
from asynctasq.jobs import Job
from tests.backends import Backend
from tests.backends_mysql import admin_connection, admin_execute
from tests.conftest import only_backends
from tests.workers import ROOT

TABLES = ("asynctasq_jobs", "asynctasq_queues", "asynctasq_workers")
ALL = [f"{m.version:04d}_{m.name}" for m in load_migrations("mysql")]


async def show_create(database: str) -> dict[str, str]:
    conn = await admin_connection()
    try:
        async with conn.cursor() as cur:
            found = {}
            for table in TABLES:
                await cur.execute(f"SHOW CREATE TABLE `{database}`.`{table}`")
                found[table] = (await cur.fetchone())[1]
            return found
    finally:
        conn.close()


async def versions(driver: MySQLDriver) -> list[int]:
    async with driver._db.connection() as session:
        return [row[0] for row in await session.values(Q["applied_migrations"])]


@only_backends("mysql")
async def test_connect_migrates_and_migrate_reports_it_once(backend: Backend) -> None:
    driver = await backend.new_driver()
    assert await driver.migrate() == ALL  # applied by connect()
    assert await driver.migrate() == []
    await driver.enqueue([job := Job(task="t", payload=b"kept")])
    other = await backend.new_driver()
    assert await other.migrate() == []
    assert isinstance(other, MySQLDriver)
    # numbers may leave gaps (reserved by features built side by side)
    assert await versions(other) == [m.version for m in load_migrations("mysql")]
    got = await driver.get(job.id)
    assert got is not None and got.payload == b"kept"  # migrating again never drops data


@only_backends("mysql")
async def test_concurrent_migrators_apply_each_migration_once(backend: Backend) -> None:
    drivers = [await backend.new_driver(auto_migrate=False) for _ in range(4)]
    results = await asyncio.gather(*(d.migrate() for d in drivers))
    assert sorted(results) == [[], [], [], ALL]


@only_backends("mysql")
async def test_without_migrations_the_error_says_what_to_run(backend: Backend) -> None:
    driver = await backend.new_driver(auto_migrate=False)
    with pytest.raises(DriverError, match="python -m asynctasq migrate"):
        await driver.enqueue([Job(task="t", payload=b"")])


@only_backends("mysql")
async def test_schema_sql_is_what_the_migrations_build(backend: Backend) -> None:
    await backend.new_driver()  # migrations, in the backend's database
    scratch = f"{backend.database}_schema"  # type: ignore[attr-defined]
    schema = (
        Path(__file__).resolve().parents[2] / "asynctasq/drivers/sql/mysql/schema.sql"
    ).read_text()
    await admin_execute(f"CREATE DATABASE `{scratch}`")
    try:
        await admin_execute(f"USE `{scratch}`", *split_statements(schema))
        assert await show_create(scratch) == await show_create(backend.database)  # type: ignore[attr-defined]
    finally:
        await admin_execute(f"DROP DATABASE IF EXISTS `{scratch}`")


def test_migrations_only_ever_add() -> None:
    for migration in load_migrations("mysql"):
        for statement in split_statements(migration.sql):
            words = statement.upper().split()
            assert "DROP" not in words and "TRUNCATE" not in words, statement
            if words[:2] == ["CREATE", "TABLE"]:
                assert words[2:5] == ["IF", "NOT", "EXISTS"], "DDL must be safe to run again"


@pytest.mark.slow
@only_backends("mysql")
async def test_the_migrate_command_applies_then_reports_up_to_date(backend: Backend) -> None:
    env = {"PATH": "/usr/bin:/bin", **backend.env()}

    def migrate() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "asynctasq", "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = migrate()
    assert "applied 0001_initial" in first
    assert "schema up to date" in migrate()
    assert backend.database in first  # type: ignore[attr-defined]
