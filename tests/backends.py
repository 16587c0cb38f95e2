"""Every broker the tests run against, each test in its own namespace.

A backend hands out connected drivers that share one isolated namespace (a
MemoryBroker, a SQLite file, a Redis key prefix, a PostgreSQL schema, a MySQL
database), so a test can open several "connections" and clean up after itself.
Driver issues add their backend here; the contract suite and the worker tests pick
them up from BACKENDS.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asynctasq.config import Config
from asynctasq.drivers.base import Driver
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from asynctasq.drivers.sqlite import SQLiteDriver
from tests.backend_base import Backend


class MemoryBackend(Backend):
    name = "memory"
    shared_across_processes = False

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.broker = MemoryBroker()

    def make_driver(self, **options: Any) -> Driver:
        return MemoryDriver(broker=self.broker, **options)

    def config(self, **overrides: Any) -> Config:
        return Config(driver="memory", **overrides)


class SQLiteBackend(Backend):
    name = "sqlite"

    @property
    def path(self) -> Path:
        return self.tmp_path / f"{self.namespace}.db"

    def make_driver(self, **options: Any) -> Driver:
        return SQLiteDriver(self.path, **options)

    def config(self, **overrides: Any) -> Config:
        return Config(driver="sqlite", sqlite_path=str(self.path), **overrides)

    def env(self) -> dict[str, str]:
        return {"ASYNCTASQ_DRIVER": "sqlite", "ASYNCTASQ_SQLITE_PATH": str(self.path)}


BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "memory": MemoryBackend,
    "sqlite": SQLiteBackend,
}

# brokers that need a server live in their own modules, tests/backends_<name>.py,
# each defining BACKENDS_EXTRA = {"name": BackendClass, ...}: every such module is
# loaded (a module that cannot be imported stops the run: it is never left out)
for _path in sorted(Path(__file__).parent.glob("backends_*.py")):
    BACKENDS.update(importlib.import_module(f"tests.{_path.stem}").BACKENDS_EXTRA)
