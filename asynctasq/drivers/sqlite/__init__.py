"""The embedded SQLite driver (the default broker)."""

from asynctasq.drivers.sqlite.driver import SQLiteDriver

__all__ = ["SQLiteDriver"]
