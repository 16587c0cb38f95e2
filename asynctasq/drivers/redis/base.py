"""The Redis driver's plumbing: settings, the connection, and running scripts.

``RedisDriver`` (driver.py) is assembled from pieces that all build on this one:
the core every broker implements (core.py, and its wait for work in waiting.py),
the operator side (admin.py) and the worker registry (registry.py). The keyspace
is documented in ``asynctasq/drivers/keys.py``, each script's KEYS and ARGV in the
header of its file in ``asynctasq/drivers/lua/``, and the operating guide in
``docs/drivers/redis.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.utils import HIREDIS_AVAILABLE

from asynctasq.clock import SYSTEM_CLOCK, Clock
from asynctasq.config import redact_url
from asynctasq.drivers.base import Driver, DriverError, DriverNotConnected
from asynctasq.drivers.keys import RedisKeys
from asynctasq.drivers.redis.blocking import BlockingClaim
from asynctasq.drivers.redis.claim import Claimer
from asynctasq.drivers.redis.connection import Client, build_client, check_url
from asynctasq.drivers.redis.locate import Locator
from asynctasq.drivers.redis.scripts import Arg, Call, ScriptRunner
from asynctasq.drivers.redis.wake import Waker
from asynctasq.drivers.results import DEFAULT_RESULT_RETENTION

__all__ = ["CHUNK", "RedisBase"]

log = logging.getLogger("asynctasq.redis")

#: jobs (outcomes, ids) per script call: bounds how long one call holds Redis, and
#: stays under Lua's limit on unpack() (about 8,000 values)
CHUNK = 1000


class RedisBase(Driver):
    name = "redis"
    name = "redis"
    #: seconds results are kept (Results; the driver factory sets the setting)
    result_retention: float = DEFAULT_RESULT_RETENTION

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        password: str | None = None,
        prefix: str = "asynctasq",
        max_connections: int = 50,
        cluster: bool = False,
        keep_completed: bool = False,
        completed_ttl: float = 86400.0,
        dead_letter_ttl: float = 30 * 86400.0,
        dead_letter_max: int = 100_000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        check_url(url, cluster=cluster)
        self.url = url
        self.password = password
        self.keys = RedisKeys(prefix)
        self.max_connections = max_connections
        self.cluster = cluster
        self.keep_completed = keep_completed
        self.completed_ttl = completed_ttl
        self.dead_letter_ttl = dead_letter_ttl
        self.dead_letter_max = dead_letter_max
        self.clock = clock
        self._client: Client | None = None
        self._closing = False
        self._blocking: BlockingClaim | None = None
        self._registered: set[str] = set()
        #: queues -> the earliest run_at of their scheduled jobs, as the last claim
        #: that found nothing due reported it (None: no scheduled job)
        self._due: dict[tuple[str, ...], float | None] = {}

    def __repr__(self) -> str:
        mode = " cluster" if self.cluster else ""
        return f"<RedisDriver{mode} {redact_url(self.url)} prefix={self.keys.prefix!r}>"

    @property
    def client(self) -> Client:
        if self._client is None:
            raise DriverNotConnected(self.name)
        return self._client

    async def connect(self) -> None:
        if self._client is not None:
            return
        client = build_client(
            self.url,
            password=self.password,
            max_connections=self.max_connections,
            cluster=self.cluster,
        )
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise DriverError(
                redact_url(  # redis-py's message may quote the URL, password and all
                    f"cannot reach Redis at {self.url} ({type(exc).__name__}: {exc}); "
                    "check ASYNCTASQ_REDIS_URL and that the server is running"
                )
            ) from exc
        if not HIREDIS_AVAILABLE:
            log.warning(
                "hiredis is not installed: Redis replies are parsed in pure Python, several "
                'times slower; pip install "asynctasq[redis]" brings it'
            )
        self._client, self._closing = client, False
        self._scripts = ScriptRunner(client)
        self._claimer = Claimer(self._scripts, self.keys, cluster=self.cluster)
        self._locator = Locator(client, self.keys)
        self._waker = Waker(client)
        self._blocking = (
            BlockingClaim(client, self._claimer, self.settle, self.clock)
            if isinstance(client, Redis)
            else None
        )

    async def disconnect(self) -> None:
        if self._client is None:
            return
        self._closing = True  # reserve() stops waiting; releases below still run
        self._reserve_wakeup().notify()
        if self._blocking is not None:
            await self._blocking.close()
        client, self._client = self._client, None
        await self._waker.close()
        await self._scripts.close()
        await client.aclose()

    def _claimer_or_raise(self) -> Claimer:
        if self._client is None or self._closing:
            raise DriverNotConnected(self.name)
        return self._claimer

    def _bounds(self) -> list[Arg]:
        return [
            repr(float(self.completed_ttl)),
            repr(float(self.dead_letter_ttl)),
            self.dead_letter_max,
        ]

    def _registration(self, queues: Iterable[str]) -> list[tuple[Arg, ...]]:
        """SADD of queue names this driver has not registered yet (see queues())."""
        fresh = [q for q in queues if q not in self._registered]
        return [("SADD", self.keys.registry, *fresh)] if fresh else []

    async def _run_many(
        self, calls: Sequence[Call], *, register: Iterable[str] = (), return_errors: bool = False
    ) -> list[Any]:
        """Script calls in one round trip, registering new queue names first."""
        if not calls:
            return []
        if self._client is None:
            raise DriverNotConnected(self.name)
        replies = await self._scripts.run_many(
            calls, before=self._registration(register), return_errors=return_errors
        )
        self._registered.update(register)
        return replies

    async def _run(self, script: str, queue: str, *args: Arg) -> Any:
        if self._client is None:
            raise DriverNotConnected(self.name)
        return await self._scripts.run(Call(script, self.keys.queue(queue), args))
