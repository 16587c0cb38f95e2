"""The driver's SQL, read once from ``asynctasq/drivers/sql/mysql/``."""

from __future__ import annotations

from asynctasq.drivers.mysql.sqltext import compile_queries
from asynctasq.drivers.sql.loader import load_migrations, load_queries

__all__ = ["MIGRATIONS", "Q"]

Q = compile_queries(load_queries("mysql"))
MIGRATIONS = load_migrations("mysql")
