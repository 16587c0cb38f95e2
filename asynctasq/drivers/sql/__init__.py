"""What the SQL drivers share: named queries and migrations kept in .sql files."""

from asynctasq.drivers.sql.loader import Migration, load_migrations, load_queries

__all__ = ["Migration", "load_migrations", "load_queries"]
