"""``backend=``: wherever a backend is taken, a driver or a broker URL.

A driver given is used as is (connected when it is not yet); a URL names a driver
this module builds once per event loop and URL (``"memory://"`` twice is the same
in-process broker), closed by ``close_backends()`` (``asynctasq.aclose()``).
None is the default broker: the settings' (``get_dispatcher()``'s driver).
"""

from __future__ import annotations

import asyncio
from typing import TypeAlias

from asynctasq.core.dispatcher import Dispatcher, get_dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver

__all__ = ["Backend", "close_backends", "connect_backend", "dispatcher_for"]

#: what ``backend=`` accepts
Backend: TypeAlias = Driver | str | None

_by_url: dict[tuple[asyncio.AbstractEventLoop, str], Driver] = {}


async def connect_backend(backend: Backend) -> Driver:
    """The connected driver ``backend`` stands for."""
    if backend is None:
        return (await get_dispatcher()).driver
    if isinstance(backend, Driver):
        await backend.connect()  # idempotent
        return backend
    if not isinstance(backend, str):
        raise TypeError(
            f"backend= takes a driver or a broker URL (redis://, postgresql://, mysql://, "
            f"sqlite:///path, memory://), not {type(backend).__name__}"
        )
    key = (asyncio.get_running_loop(), backend)
    driver = _by_url.get(key)
    if driver is None:
        driver = DriverFactory.from_url(backend)
        await driver.connect()
        kept = _by_url.setdefault(key, driver)
        if kept is not driver:  # another coroutine connected one meanwhile
            await driver.disconnect()
            driver = kept
    return driver


async def dispatcher_for(backend: Backend) -> Dispatcher:
    """The default dispatcher, or one sending to ``backend``."""
    if backend is None:
        return await get_dispatcher()
    return Dispatcher(await connect_backend(backend), coalesce=False)


async def close_backends() -> None:
    """Disconnect the drivers built from URLs on the running loop (and forget those
    of closed loops)."""
    loop = asyncio.get_running_loop()
    for key in [k for k in _by_url if k[0] is loop or k[0].is_closed()]:
        driver = _by_url.pop(key)
        if key[0] is loop:
            await driver.disconnect()
