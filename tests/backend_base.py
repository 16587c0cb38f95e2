"""The base of every test backend (kept apart from tests/backends.py, which imports
the broker-specific backend modules, so those can import this without a cycle)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from asynctasq.config import Config
from asynctasq.drivers.base import Driver


class Backend:
    name = "?"
    #: can another OS process reach this broker (worker subprocess tests)?
    shared_across_processes = True

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.namespace = f"t{secrets.token_hex(4)}"
        self.drivers: list[Driver] = []

    def make_driver(self, **options: Any) -> Driver:
        raise NotImplementedError

    def config(self, **overrides: Any) -> Config:
        """Settings that point a worker subprocess at this namespace."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The same, as ASYNCTASQ_* variables for a subprocess."""
        raise NotImplementedError

    async def new_driver(self, **options: Any) -> Driver:
        driver = self.make_driver(**options)
        await driver.connect()
        self.drivers.append(driver)
        return driver

    async def setup(self) -> None:
        """Create the namespace (database, schema)."""

    async def teardown(self) -> None:
        for driver in self.drivers:
            try:
                await driver.disconnect()
            except Exception:
                pass
        await self.drop()

    async def drop(self) -> None:
        """Remove the namespace."""
