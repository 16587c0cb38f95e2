"""What the SQL drivers share: the protocol written once (``driver.SQLDriver`` and
``admin.py``) over each dialect's named statements (``statements.py``), and the named
queries and migrations kept in .sql files (``loader.py``, ``<dialect>/``)."""

from asynctasq.drivers.sql.loader import Migration, load_migrations, load_queries

__all__ = ["Migration", "load_migrations", "load_queries"]
