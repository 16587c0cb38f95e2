"""The base of every test backend (kept apart from tests/backends.py, which imports
the broker-specific backend modules, so those can import this without a cycle).

A backend is a conformance :class:`~asynctasq.testing.conformance.Target` (drivers
sharing one isolated namespace) that also knows how to point a worker subprocess at
that namespace (``config``, ``env``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from asynctasq.config import Config
from asynctasq.drivers.base import Driver
from asynctasq.testing.conformance import Target

T = TypeVar("T")


class Backend(Target):
    #: can another OS process reach this broker (worker subprocess tests)?
    shared_across_processes = True

    def __init__(self, tmp_path: Path) -> None:
        super().__init__()
        self.tmp_path = tmp_path
        self.namespace = f"t{secrets.token_hex(4)}"

    def config(self, **overrides: Any) -> Config:
        """Settings that point a worker subprocess at this namespace."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The same, as ASYNCTASQ_* variables for a subprocess."""
        raise NotImplementedError

    def blocking_elsewhere(self, use: Callable[[Driver], Awaitable[T]]) -> T:
        """``use`` a driver of its own on another thread's event loop, this thread (and
        its loop) blocked until it is done: what another worker or producer does while
        this one runs nothing (frozen, or not to read a reply yet)."""

        async def run() -> T:
            driver = self.make_driver()
            await driver.connect()
            try:
                return await use(driver)
            finally:
                await driver.disconnect()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result(timeout=30)
