"""What every view and action of one dashboard app shares: the broker connection
(opened on first use), the guard, the event hub, and the read-only switch."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.requests import Request

from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.dashboard.bulk import BulkRuns
from asynctasq.dashboard.live import EventHub
from asynctasq.dashboard.security import Guard
from asynctasq.drivers.base import Driver

__all__ = ["Context"]


@dataclass
class Context:
    config: Config
    guard: Guard
    hub: EventHub
    read_only: bool = False
    #: a driver the host app passed in (it connects and closes it)
    given: Driver | None = None
    #: a broker URL that picks the driver (else the settings do)
    url: str | None = None
    #: bulk actions running or done (their pages show progress)
    bulk: BulkRuns = field(default_factory=BulkRuns)
    _own: Driver | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def driver(self) -> Driver:
        if self.given is not None:
            return self.given
        # connected on first use: a mounted app gets no lifespan call of its own
        async with self._lock:
            if self._own is None:
                driver = (
                    DriverFactory.from_url(self.url, config=self.config)
                    if self.url
                    else DriverFactory.create_from_config(self.config)
                )
                await driver.connect()
                self._own = driver
        return self._own

    async def close(self) -> None:
        await self.bulk.close()
        await self.hub.close()
        if self._own is not None:
            await self._own.disconnect()
            self._own = None

    @staticmethod
    def root(request: Request) -> str:
        """The URL of the dashboard's own root, wherever it is mounted, ending in /."""
        mounted_at: str = request.scope.get("root_path", "")
        return mounted_at.rstrip("/") + "/"
