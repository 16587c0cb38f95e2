"""Migrations of the PostgreSQL driver: they build exactly schema.sql, apply only what
is missing, are safe twice and concurrently, and never drop data."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from asynctasq.drivers.postgres import PostgresDriver
from asynctasq.drivers.postgres.sql import SchemaSQL
from asynctasq.drivers.sql.loader import Migration, load_migrations
from tests.backends_postgres import DSN, drop_schema
from tests.workers import ROOT

# Everything the catalog knows about a schema's objects, with the schema's name
# replaced, so two schemas built two ways can be compared object by object.
CATALOG = {
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid), coll.collname
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation coll ON coll.oid = a.attcollation AND a.attcollation <> 100
        WHERE c.relnamespace = $1::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "relations": """
        SELECT relname, relkind, relpersistence, reloptions FROM pg_class
        WHERE relnamespace = $1::regnamespace ORDER BY 1""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = $1::regnamespace ORDER BY 1, 2""",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = $1::regnamespace)
        ORDER BY 1, 2""",
    "functions": """
        SELECT proname, pg_get_function_identity_arguments(oid), prosrc FROM pg_proc
        WHERE pronamespace = $1::regnamespace ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type, increment_by FROM pg_sequences
        WHERE schemaname = $1 ORDER BY 1""",
}


async def describe(con: Any, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(f'"{schema}".', "<schema>.").replace(f"{schema}.", "<schema>.")
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    found = {}
    for what, query in CATALOG.items():
        rows = await con.fetch(query, schema)
        # the migrator's own bookkeeping table is not part of schema.sql
        found[what] = [
            tuple(scrub(v) for v in row)
            for row in rows
            if not any(isinstance(v, str) and v.startswith("migrations") for v in row)
        ]
    return found


@pytest.fixture
async def schemas() -> AsyncIterator[list[str]]:
    made: list[str] = []
    yield made
    for schema in made:
        await drop_schema(DSN, schema)


def new_schema(made: list[str]) -> str:
    name = f"asynctasq_m{secrets.token_hex(4)}"
    made.append(name)
    return name


async def test_applying_every_migration_gives_exactly_schema_sql(schemas: list[str]) -> None:
    migrated, declared = new_schema(schemas), new_schema(schemas)
    driver = PostgresDriver(DSN, schema=migrated)
    await driver.connect()
    await driver.disconnect()
    con = await asyncpg.connect(DSN)
    try:
        await con.execute(f'CREATE SCHEMA "{declared}"')
        await con.execute(SchemaSQL(declared).schema_sql())
        built, expected = await describe(con, migrated), await describe(con, declared)
    finally:
        await con.close()
    assert built["columns"] and built["indexes"]  # the comparison saw the tables
    for what in CATALOG:
        assert built[what] == expected[what], f"{what} differ between migrations and schema.sql"


async def test_migrate_is_safe_twice_and_reports_what_it_applied(schemas: list[str]) -> None:
    schema = new_schema(schemas)
    latest = [f"{m.version:04d}_{m.name}" for m in load_migrations("postgres")]
    driver = PostgresDriver(DSN, schema=schema, migrate_on_connect=False)
    assert await driver.migrate() == latest  # without connect(): one connection of its own
    assert await driver.migrate() == []
    await driver.connect()
    try:
        assert await driver.migrate() == []
    finally:
        await driver.disconnect()
    fresh = PostgresDriver(DSN, schema=new_schema(schemas))
    await fresh.connect()  # migrates on connect; migrate() then reports that work
    try:
        assert await fresh.migrate() == latest
        assert await fresh.migrate() == []
    finally:
        await fresh.disconnect()


async def test_concurrent_migrators_apply_each_migration_once(schemas: list[str]) -> None:
    schema = new_schema(schemas)
    drivers = [PostgresDriver(DSN, schema=schema, migrate_on_connect=False) for _ in range(6)]
    results = await asyncio.gather(*(d.migrate() for d in drivers))
    assert sorted(len(r) for r in results) == [0] * 5 + [len(load_migrations("postgres"))]
    # and drivers connecting at once (each migrating on connect) all come up
    racing = [PostgresDriver(DSN, schema=new_schema(schemas)) for _ in range(4)]
    same = [PostgresDriver(DSN, schema=racing[0].schema) for _ in range(4)]
    await asyncio.gather(*(d.connect() for d in racing + same))
    for d in racing + same:
        assert await d.stats("default") is not None
        await d.disconnect()


async def test_a_new_migration_is_applied_alone_and_keeps_the_data(
    schemas: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from asynctasq.drivers.postgres import sql as sql_module
    from asynctasq.jobs import Job

    schema = new_schema(schemas)
    driver = PostgresDriver(DSN, schema=schema)
    await driver.connect()
    job = Job(task="t", payload=b"kept")
    await driver.enqueue([job])
    await driver.disconnect()

    current = load_migrations("postgres")
    extra = Migration(
        current[-1].version + 1,  # numbers may have gaps: the next after the last
        "probe",
        "CREATE TABLE {schema}.probe (id integer PRIMARY KEY);\n"
        "ALTER TABLE {schema}.jobs ADD COLUMN probe_note text;\n",
    )
    monkeypatch.setattr(sql_module, "load_migrations", lambda dialect: [*current, extra])
    upgraded = PostgresDriver(DSN, schema=schema, migrate_on_connect=False)
    await upgraded.connect()
    try:
        assert await upgraded.migrate() == [f"{extra.version:04d}_probe"]
        assert await upgraded.migrate() == []
        got = await upgraded.get(job.id)  # explicit columns: a new column changes nothing
        assert got is not None and got.payload == b"kept"
    finally:
        await upgraded.disconnect()


def test_migrations_only_ever_add() -> None:
    destructive = re.compile(r"\b(DROP|TRUNCATE|DELETE|RENAME)\b", re.IGNORECASE)
    for migration in load_migrations("postgres"):
        code = "\n".join(
            line for line in migration.sql.splitlines() if not line.strip().startswith("--")
        )
        assert not destructive.search(code), f"{migration.name} would destroy data"


def test_the_migrate_command_applies_then_reports_up_to_date(schemas: list[str]) -> None:
    schema = new_schema(schemas)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env.update(
        ASYNCTASQ_DRIVER="postgres", ASYNCTASQ_POSTGRES_DSN=DSN, ASYNCTASQ_POSTGRES_SCHEMA=schema
    )
    command = [sys.executable, "-m", "asynctasq", "migrate"]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout
