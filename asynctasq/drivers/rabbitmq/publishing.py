"""Publishing jobs: to their band queue, through the delay exchanges, or to the dead
letters; each publish returns once the broker confirmed it (publisher confirms,
persistent messages, ``mandatory`` so an unroutable message is an error, not a loss).
"""

from __future__ import annotations

from typing import Any

import aiormq

from asynctasq.clock import Clock
from asynctasq.drivers.rabbitmq import envelope
from asynctasq.drivers.rabbitmq.lane import Arrival
from asynctasq.drivers.rabbitmq.topology import Topology, bit_headers, delay_bits
from asynctasq.jobs import Job

__all__ = ["Publisher"]

#: header of a dead letter naming why it is there (readable in the management UI)
ERROR_HEADER = "atq-error"


class Publisher:
    def __init__(self, channel: aiormq.Channel, topology: Topology, clock: Clock) -> None:
        self.channel = channel
        self.topology = topology
        self.clock = clock

    async def send(self, job: Job, attempts: int, *, error: str | None = None) -> Any:
        """Publish ``job`` (``attempts`` ended) to its band queue, through the delay
        queues while its ``run_at`` is in the future."""
        body = envelope.encode(job, attempts, error=error)
        band_queue = self.topology.band_queue(job.queue, self.topology.band(job.priority))
        delay = job.run_at - self.clock.time()
        units = delay_bits(delay) if delay > 0 else 0
        if not units:
            return await self.channel.basic_publish(
                body,
                routing_key=band_queue,
                properties=envelope.properties(job.id),
                mandatory=True,
                wait=False,  # for the broker's confirm only, not the socket
            )
        return await self.channel.basic_publish(
            body,
            exchange=self.topology.delay_name(units.bit_length() - 1),
            routing_key=band_queue,
            properties=envelope.properties(job.id, bit_headers(units)),
            mandatory=True,
            wait=False,  # for the broker's confirm only, not the socket
        )

    async def dead_letter(self, job: Job, attempts: int, error: str, finished_at: float) -> Any:
        """Publish ``job`` to its queue's dead letters (state failed)."""
        job = job.copy()
        job.finished_at = finished_at
        body = envelope.encode(job, attempts, error=error)
        return await self.channel.basic_publish(
            body,
            routing_key=self.topology.failed_queue(job.queue),
            properties=envelope.properties(job.id, {ERROR_HEADER: error[:2000]}),
            mandatory=True,
            wait=False,  # for the broker's confirm only, not the socket
        )

    async def dead_letter_raw(self, arrival: Arrival, queue: str) -> Any:
        """A message that is no job, as it came, to the dead letters of ``queue``."""
        properties = arrival.message.header.properties
        headers = dict(properties.headers or {})
        headers[ERROR_HEADER] = f"not an asynctasq job: {arrival.reason}"
        properties.headers = headers
        return await self.channel.basic_publish(
            arrival.message.body,
            routing_key=self.topology.failed_queue(queue),
            properties=properties,
            mandatory=True,
            wait=False,  # for the broker's confirm only, not the socket
        )
