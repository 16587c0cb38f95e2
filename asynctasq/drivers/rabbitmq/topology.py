"""The queues and exchanges the RabbitMQ driver declares, and how it names them.

Everything lives under one prefix (``ASYNCTASQ_RABBITMQ_PREFIX``, default
``asynctasq``), so several applications (or test runs) share a vhost safely:

- ``{prefix}.{queue}.p{band}``: the jobs of a queue, one durable quorum queue per
  priority band (RabbitMQ 3.x quorum queues have no priorities of their own, so
  priority is honoured by consuming the bands in order);
- ``{prefix}.{queue}.failed``: the dead letters of a queue (failed jobs, poison
  messages), a quorum queue nobody consumes: operators read or shovel it;
- ``{prefix}.delay.{n}``: a headers exchange and a quorum queue whose messages
  wait ``2**n`` milliseconds. A delay is written in binary: a message visits the
  queue of each set bit (highest first), then reaches
- ``{prefix}.deliver``: a direct exchange routing by the band queue's name.

Declaring is idempotent; a name taken by a queue with other arguments is an error
that names the queue and the way out.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from aiormq.abc import AbstractChannel

__all__ = [
    "DEFAULT_BANDS",
    "DELAY_LEVELS",
    "DELAY_UNIT",
    "Topology",
    "delay_bits",
    "delete_topology",
]

#: priority cut points: band 0 holds priority < 0, band 1 priority 0, band 2 > 0
DEFAULT_BANDS: tuple[int, ...] = (0, 1)
#: seconds of the smallest delay step (the delay queues' resolution)
DELAY_UNIT = 0.001
#: delay queues 0..DELAY_LEVELS-1: the longest single trip is about 49 days; a
#: longer delay makes the trip again when it arrives (see RabbitMQDriver.claim)
DELAY_LEVELS = 32

_QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
#: at-least-once dead-lettering (3.10+) needs reject-publish overflow: a delayed
#: message leaves its delay queue only once the next hop has it
_DELAY_QUEUE: dict[str, Any] = {
    **_QUORUM,
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


def delay_bits(seconds: float) -> int:
    """The delay in whole units, rounded up (a job never arrives early), capped to
    one trip through the delay queues."""
    units = math.ceil(round(seconds / DELAY_UNIT, 6))
    return max(0, min(units, (1 << DELAY_LEVELS) - 1))


def bit_headers(units: int) -> dict[str, Any]:
    """The headers the delay exchanges route on: one per level up to the top bit."""
    return {f"atq-d{n}": (units >> n) & 1 for n in range(units.bit_length())}


OpenChannel = Callable[[], Awaitable[AbstractChannel]]


class Topology:
    """Names under a prefix, and which queues this connection has declared."""

    def __init__(self, prefix: str, bands: Sequence[int] = DEFAULT_BANDS) -> None:
        if list(bands) != sorted(set(bands)):
            raise ValueError(f"priority band cut points must be increasing: {bands!r}")
        self.prefix = prefix
        self.cuts = tuple(bands)
        self.deliver = f"{prefix}.deliver"
        self._queues: set[str] = set()
        #: band queue -> the queue it belongs to (of the queues declared)
        self.queue_of: dict[str, str] = {}

    @property
    def band_count(self) -> int:
        return len(self.cuts) + 1

    def band(self, priority: int) -> int:
        return bisect.bisect_right(self.cuts, priority)

    def band_queue(self, queue: str, band: int) -> str:
        return f"{self.prefix}.{queue}.p{band}"

    def band_queues(self, queue: str) -> list[str]:
        return [self.band_queue(queue, b) for b in range(self.band_count)]

    def failed_queue(self, queue: str) -> str:
        return f"{self.prefix}.{queue}.failed"

    def delay_name(self, level: int) -> str:
        return f"{self.prefix}.delay.{level}"

    def forget(self) -> None:
        """After a reconnect: declare again (the broker may have been reset)."""
        self._queues.clear()

    def declared(self, queue: str) -> bool:
        return queue in self._queues

    @property
    def queues(self) -> set[str]:
        """The queues declared through this topology."""
        return set(self._queues)

    # -- declaring (idempotent; in parallel, since creating a quorum queue is slow) ----

    async def declare_shared(self, open_channel: OpenChannel) -> None:
        """The deliver exchange and every delay level: level n's headers exchange
        sends a message whose bit n is set to its queue (TTL 2**n units), others on
        to level n-1; the queue dead-letters to level n-1 too; level 0 ends at the
        deliver exchange."""
        levels = range(DELAY_LEVELS)

        async def exchange(channel: AbstractChannel, name: str, kind: str) -> None:
            await channel.exchange_declare(name, exchange_type=kind, durable=True)

        await _in_parallel(open_channel, [partial(exchange, name=self.deliver, kind="direct")])
        await _in_parallel(
            open_channel,
            [partial(exchange, name=self.delay_name(n), kind="headers") for n in levels],
        )
        await _in_parallel(open_channel, [partial(self._delay_queue, level=n) for n in levels])

    async def _delay_queue(self, channel: AbstractChannel, level: int) -> None:
        name = self.delay_name(level)
        below = self.delay_name(level - 1) if level else self.deliver
        ttl = round((1 << level) * DELAY_UNIT * 1000)
        arguments = {**_DELAY_QUEUE, "x-message-ttl": ttl, "x-dead-letter-exchange": below}
        await channel.queue_declare(name, durable=True, arguments=arguments)
        bit = f"atq-d{level}"
        await channel.queue_bind(name, name, arguments={"x-match": "all", bit: 1})
        await channel.exchange_bind(below, name, arguments={"x-match": "all", bit: 0})

    async def declare_queues(self, open_channel: OpenChannel, queues: Sequence[str]) -> None:
        """The band queues of ``queues`` (bound to the deliver exchange) and their
        dead letters."""
        new = [q for q in dict.fromkeys(queues) if q not in self._queues]
        if not new:
            return

        async def band_queue(channel: AbstractChannel, name: str) -> None:
            await channel.queue_declare(name, durable=True, arguments=_QUORUM)
            await channel.queue_bind(name, self.deliver, routing_key=name)

        async def dead_letters(channel: AbstractChannel, name: str) -> None:
            await channel.queue_declare(name, durable=True, arguments=_QUORUM)

        steps = [partial(band_queue, name=b) for q in new for b in self.band_queues(q)]
        steps += [partial(dead_letters, name=self.failed_queue(q)) for q in new]
        await _in_parallel(open_channel, steps)
        for queue in new:
            self._queues.add(queue)
            self.queue_of.update(dict.fromkeys(self.band_queues(queue), queue))


async def delete_topology(channel: AbstractChannel, prefix: str, queues: Sequence[str]) -> None:
    """Delete what the driver declares under ``prefix`` for these queue names, with
    their messages (for tests, benchmarks and operators retiring a prefix)."""
    topology = Topology(prefix)
    for queue in queues:
        for name in [*topology.band_queues(queue), topology.failed_queue(queue)]:
            await channel.queue_delete(name)
    for level in range(DELAY_LEVELS):
        await channel.queue_delete(topology.delay_name(level))
        await channel.exchange_delete(topology.delay_name(level))
    await channel.exchange_delete(topology.deliver)


async def _in_parallel(
    open_channel: OpenChannel, steps: Sequence[Callable[[AbstractChannel], Awaitable[None]]]
) -> None:
    """Each step on a channel of its own (a channel runs one method at a time)."""
    channels = await asyncio.gather(*(open_channel() for _ in steps))
    try:
        await asyncio.gather(*(step(ch) for step, ch in zip(steps, channels, strict=True)))
    finally:
        await asyncio.gather(*(ch.close() for ch in channels), return_exceptions=True)
