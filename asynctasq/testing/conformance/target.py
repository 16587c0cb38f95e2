"""The target: what the conformance suite needs from a driver author.

A target makes connected drivers that share one isolated namespace (a key prefix, a
schema, a database, a file), so a check can open several "connections" to the same
broker and leave nothing behind. Subclass it and give ``make_driver``; give ``setup``
and ``drop`` when your namespace must be created and removed.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Capability, unsupported

__all__ = ["Target"]


class Target:
    """One isolated namespace on a broker, handing out drivers connected to it."""

    #: how reports and skip reasons name the broker
    name: ClassVar[str] = "?"
    #: does ``make_driver(clock=...)`` honour the clock for all the time the driver
    #: computes? The lifecycle model test then moves time instead of sleeping; without
    #: it, leases lapse in real (short) time and scheduled jobs are not generated.
    accepts_clock: ClassVar[bool] = True
    #: does each example of the lifecycle model test get a fresh target? When making
    #: a namespace is slow (declaring a broker's topology), say False: the examples
    #: then share one, each with queues of its own, settling what it held at its end.
    fresh_per_example: ClassVar[bool] = True
    #: seconds a driver gets to close, and the namespace to be dropped, at teardown:
    #: past them the teardown fails loudly instead of hanging the whole run
    disconnect_timeout: ClassVar[float] = 15.0
    drop_timeout: ClassVar[float] = 60.0

    def __init__(self) -> None:
        self.drivers: list[Driver] = []

    def make_driver(self, **options: Any) -> Driver:
        """A new, unconnected driver of this namespace (``options`` are constructor
        options: ``keep_completed``, and ``clock`` when ``accepts_clock``)."""
        raise NotImplementedError(f"{type(self).__name__} must define make_driver()")

    async def setup(self) -> None:
        """Create the namespace (a database, a schema); nothing by default."""

    async def drop(self) -> None:
        """Remove the namespace and everything in it; nothing by default."""

    async def new_driver(self, **options: Any) -> Driver:
        """A connected driver of this namespace, disconnected by ``teardown``."""
        driver = self.make_driver(**options)
        await driver.connect()
        self.drivers.append(driver)
        return driver

    async def teardown(self) -> None:
        drivers, self.drivers = self.drivers, []
        for driver in drivers:
            try:
                # a failed check may leave a connection checked out: never hang the run
                await asyncio.wait_for(driver.disconnect(), self.disconnect_timeout)
            except Exception:  # a broken connection must not keep the namespace
                pass
        await asyncio.wait_for(self.drop(), self.drop_timeout)

    def lacks(self, *capabilities: type[Capability]) -> list[str]:
        """Names of the ``capabilities`` this target's driver does not declare."""
        return unsupported(self.make_driver(), capabilities)
