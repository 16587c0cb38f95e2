"""One connection to RabbitMQ and its channels: publishing (with confirms), declaring
(a channel of its own, since a refused declaration closes its channel), and the lease
lane (deliveries and their acknowledgements)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import aio_pika
import aiormq
from aiormq.abc import AbstractChannel

from asynctasq.clock import Clock
from asynctasq.drivers.base import DriverError
from asynctasq.drivers.rabbitmq.lane import Lane
from asynctasq.drivers.rabbitmq.publishing import Publisher
from asynctasq.drivers.rabbitmq.topology import Topology
from asynctasq.redaction import redact

__all__ = ["Session"]


class Session:
    def __init__(
        self, connection: aio_pika.abc.AbstractConnection, publisher: Publisher, topology: Topology
    ) -> None:
        self.connection = connection
        self.publisher = publisher
        self.topology = topology
        self.lane: Lane | None = None

    @classmethod
    async def open(cls, url: str, topology: Topology, clock: Clock) -> Session:
        try:
            connection = await aio_pika.connect(url, timeout=10)
        except Exception as exc:
            raise DriverError(
                f"cannot connect to RabbitMQ at {redact(url)} ({type(exc).__name__}: "
                f"{redact(str(exc))}): is the server running, and are "
                "ASYNCTASQ_RABBITMQ_URL's host, vhost and credentials right?"
            ) from None
        publisher = Publisher(await _publishing_channel(connection), topology, clock)
        session = cls(connection, publisher, topology)
        topology.forget()  # a new connection may reach a server that was reset
        try:
            await topology.declare_shared(session.open_channel)
        except Exception as exc:
            await connection.close()
            raise _declare_error("the delay queues", exc) from None
        return session

    async def usable(self) -> Session:
        """This session, its publishing channel opened again if the broker closed it
        (a publish to an exchange deleted under it, for example)."""
        if self.publisher.channel.is_closed:
            self.publisher.channel = await _publishing_channel(self.connection)
        return self

    async def open_channel(self) -> AbstractChannel:
        channel = await self.connection.channel(publisher_confirms=False)
        return await channel.get_underlay_channel()

    @property
    def closed(self) -> bool:
        return self.connection.is_closed

    async def declare(self, queues: Sequence[str]) -> None:
        try:
            await self.topology.declare_queues(self.open_channel, queues)
        except Exception as exc:
            raise _declare_error(f"the queues {', '.join(map(repr, queues))}", exc) from None

    async def lane_for(
        self, queues: Sequence[str], *, prefetch: int, on_arrival: Callable[[], None]
    ) -> Lane:
        """The lease lane, consuming ``queues`` (opened again if the broker closed it)."""
        await self.declare(queues)
        lane = self.lane
        if lane is None or not lane.open:
            channel = await self.open_channel()
            lane = self.lane = Lane(channel, prefetch=prefetch, on_arrival=on_arrival)
        await lane.widen(prefetch)
        for queue in queues:
            await lane.consume(self.topology.band_queues(queue))
        return lane

    async def close(self) -> None:
        if not self.connection.is_closed:
            await self.connection.close()


async def _publishing_channel(connection: aio_pika.abc.AbstractConnection) -> aiormq.Channel:
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    # the concrete channel: its basic_publish can skip waiting for the socket buffer
    return cast(aiormq.Channel, await channel.get_underlay_channel())


def _declare_error(what: str, exc: BaseException) -> DriverError:
    return DriverError(
        f"cannot declare the RabbitMQ objects of {what} ({type(exc).__name__}: "
        f"{redact(str(exc))}): one of that name may exist with other arguments "
        "(delete it, or choose another ASYNCTASQ_RABBITMQ_PREFIX), or the user lacks the "
        "configure permission on the vhost"
    )
