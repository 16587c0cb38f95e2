"""A throwaway database per test module, on the local PostgreSQL and MariaDB."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

PG_HOST = "127.0.0.1:5432"
MARIADB_HOST = "127.0.0.1:3306"


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """Create a database (user postgres, trust auth); yield its name; drop it."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = f"postgresql://postgres@{PG_HOST}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mariadb_database(prefix: str) -> Iterator[str]:
    import pymysql

    name = f"{prefix}_{secrets.token_hex(4)}"
    host, port = MARIADB_HOST.split(":")
    conn = pymysql.connect(host=host, port=int(port), user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
