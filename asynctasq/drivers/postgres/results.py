"""Result waiters on PostgreSQL: a settle that ends jobs NOTIFYs the schema's
``finished`` channel (queries.sql, settle) when it commits; a waiter LISTENs on a
connection of its own and looks again at each notice (and every couple of seconds
for the ends that notify nothing: cancel, lease recovery, expiry at claim)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from asynctasq.drivers.results import FinishNotices, NoticeHub, PollingNotices

__all__ = ["listen_finished"]

log = logging.getLogger("asynctasq.drivers.postgres")


@asynccontextmanager
async def listen_finished(
    connect: Callable[[], Awaitable[Any]], channel: str
) -> AsyncIterator[FinishNotices]:
    hub = NoticeHub()
    try:
        con = await connect()
    except Exception as exc:  # the waiter still gets its result: it polls
        log.debug("result waiter polls: cannot LISTEN (%r)", exc)
        yield PollingNotices()
        return
    try:
        await con.add_listener(channel, lambda *_: hub.notify())
        yield hub.waiter()
    finally:
        with contextlib.suppress(Exception):
            await con.close()
