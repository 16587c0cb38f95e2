"""The lease channel: consumers that fill local buffers, and the claims taken from them.

Every unacknowledged delivery on this channel is a job leased to this process: the
broker hands it to nobody else while the channel lives, and gives it back (counting
the delivery in ``x-delivery-count``) when the channel or its connection closes, for
example because the worker died. A consumer per band queue keeps ``prefetch``
deliveries coming; ``claim`` takes from the buffers, most urgent band first.

A claim that finds fewer buffered deliveries than it wants first refills: it asks
with ``basic.get`` for a job not sent yet, then sends ``basic.qos`` as a barrier:
the broker answers it only after every delivery it sent before, so a job that was on
its way to this channel is in the buffers when the claim takes. ``claim`` is thus
exact for jobs enqueued before it started, as the driver contract asks, as long as
the consumers have room (their prefetch is twice the largest claim).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp.commands import Basic

from asynctasq.drivers.rabbitmq.envelope import BadEnvelope, decode, delivery_count
from asynctasq.jobs import Job

__all__ = ["Arrival", "Lane"]

log = logging.getLogger("asynctasq.driver")


@dataclass(slots=True)
class Arrival:
    """A delivery in the buffers: its job (None if the body did not decode)."""

    band_queue: str
    tag: int
    job: Job | None
    #: attempts that ended before: the envelope's count + deliveries lost with a channel
    ended: int
    message: DeliveredMessage
    reason: str = ""
    #: of ``ended``, the deliveries lost with their channel (the worker died)
    lost: int = 0

    @property
    def lost_last_attempt(self) -> bool:
        """Was the job's last attempt lost with its channel? Only a lost delivery ends
        a job here: a job retried past its ``max_attempts`` by an outcome (the
        worker's call, not the driver's) is handed out again, as on every broker."""
        job = self.job
        return job is not None and self.lost > 0 and self.ended >= job.max_attempts


class Lane:
    """One channel of leased deliveries (see the module docstring)."""

    def __init__(
        self, channel: AbstractChannel, *, prefetch: int, on_arrival: Callable[[], None]
    ) -> None:
        self.channel = channel
        self.prefetch = prefetch
        self.on_arrival = on_arrival
        self.buffers: dict[str, deque[Arrival]] = {}
        self.consumers: dict[str, str] = {}  # band queue -> consumer tag
        #: per consumer tag, its deliveries not yet acknowledged: at ``prefetch`` the
        #: broker sends that consumer nothing more
        self.in_use: dict[str, int] = {}
        self._consumed: dict[int, str] = {}  # delivery tag -> the consumer that got it
        self._unacked: set[int] = set()  # every delivery of the channel not yet settled
        #: basic.get calls under way: the tag of what one returns is unknown until it
        #: is back, and a batched ack (``multiple``) could cover it
        self._getting = 0
        self.open = True
        channel.closing.add_done_callback(self._closed)

    def _closed(self, _: object) -> None:
        # the broker returns every delivery of this channel: none can be settled here
        self.open = False

    # -- filling ----------------------------------------------------------------------

    async def consume(self, band_queues: Sequence[str]) -> None:
        """Start a consumer on each band queue not consumed yet."""
        for name in band_queues:
            if name not in self.consumers:
                self.buffers.setdefault(name, deque())
                await self._start_consumer(name)

    async def widen(self, prefetch: int) -> None:
        """Let each consumer hold ``prefetch`` deliveries (a consumer's prefetch is
        fixed when it starts: start it again; what it delivered stays ours)."""
        if prefetch <= self.prefetch:
            return
        self.prefetch = prefetch
        for name, consumer in list(self.consumers.items()):
            await self.channel.basic_cancel(consumer)
            await self._start_consumer(name)

    async def _start_consumer(self, name: str) -> None:
        await self.channel.basic_qos(prefetch_count=self.prefetch)
        consumer = ""

        async def on_message(message: DeliveredMessage) -> None:
            tag = message.delivery_tag
            assert tag is not None
            self._consumed[tag] = consumer
            self.in_use[consumer] = self.in_use.get(consumer, 0) + 1
            self._arrive(name, message)

        ok = await self.channel.basic_consume(name, on_message, no_ack=False)
        assert ok.consumer_tag is not None
        consumer = self.consumers[name] = ok.consumer_tag

    def _arrive(self, band_queue: str, message: DeliveredMessage) -> None:
        tag = message.delivery_tag
        assert tag is not None
        self._unacked.add(tag)
        try:
            job, ended = decode(message.body)
            lost = delivery_count(message)
            arrival = Arrival(band_queue, tag, job, ended + lost, message, lost=lost)
        except BadEnvelope as exc:
            arrival = Arrival(band_queue, tag, None, 0, message, str(exc))
        buffer = self.buffers.setdefault(band_queue, deque())
        buffer.append(arrival)
        if len(buffer) == 1:
            self.on_arrival()

    def available(self, order: Sequence[Sequence[str]]) -> int:
        buffers = self.buffers
        return sum(len(buffers.get(name, ())) for band in order for name in band)

    async def refill(self, order: Sequence[Sequence[str]]) -> None:
        """For a claim that wants more than is buffered: ask the band queues (most
        urgent first) with ``basic.get`` for a job their consumer has not been sent
        yet, until one answers; then send the barrier (module doc). One answer is
        enough: the consumers bring the rest. A consumer at its prefetch is not
        asked for more: the deliveries it holds are settled soon (the worker has
        free slots, and the prefetch is twice what it claims), and then the broker
        sends it more."""
        for band in order:
            for name in band:
                if self.in_use.get(self.consumers.get(name, ""), 0) >= self.prefetch:
                    continue
                self._getting += 1
                try:
                    message = await self.channel.basic_get(name, no_ack=False)
                    if isinstance(message.delivery, Basic.GetOk):
                        self._arrive(name, message)
                        await self.channel.basic_qos(prefetch_count=self.prefetch)
                        return
                finally:
                    self._getting -= 1
        await self.channel.basic_qos(prefetch_count=self.prefetch)

    # -- taking -----------------------------------------------------------------------

    def take(self, order: Sequence[Sequence[str]], limit: int) -> list[Arrival]:
        """Up to ``limit`` buffered deliveries, band by band; within a band, across
        queues, the earliest ``run_at`` first (then id)."""
        taken: list[Arrival] = []
        buffers = self.buffers
        for band in order:
            if len(band) == 1:  # one queue: its buffer is already in order
                buffer = buffers.get(band[0])
                while buffer and len(taken) < limit:
                    taken.append(buffer.popleft())
                continue
            while len(taken) < limit:
                heads = [b for name in band if (b := buffers.get(name))]
                if not heads:
                    break
                taken.append(min(heads, key=_head_order).popleft())
            if len(taken) >= limit:
                break
        return taken

    def drain(self) -> list[Arrival]:
        """Every buffered delivery (the lane is closing)."""
        arrivals = [a for buffer in self.buffers.values() for a in buffer]
        for buffer in self.buffers.values():
            buffer.clear()
        return arrivals

    # -- settling ---------------------------------------------------------------------

    async def ack(self, tags: Sequence[int]) -> bool:
        """Acknowledge deliveries; False if the channel is gone (they were returned)."""
        if not self.open:
            return False
        for tag in tags:
            self._settled(tag)
        # every delivery below the oldest one still out is in this batch (or settled
        # before): one frame acknowledges them all (``multiple``); not while a get is
        # under way, whose delivery may be older than this batch
        oldest = min(self._unacked, default=None) if not self._getting else 0
        below = [tag for tag in tags if oldest is None or tag < oldest]
        singles = [tag for tag in tags if oldest is not None and tag > oldest]
        try:
            if below:
                await self.channel.basic_ack(max(below), multiple=True, wait=not singles)
            for i, tag in enumerate(singles, 1):
                # the last one waits until the frames are written: on the wire before
                # settle() answers (the broker may still miss them if the connection
                # dies then: at-least-once)
                await self.channel.basic_ack(tag, wait=i == len(singles))
        except Exception:
            return False
        return True

    def _settled(self, tag: int) -> None:
        self._unacked.discard(tag)
        consumer = self._consumed.pop(tag, None)
        if consumer is not None:
            self.in_use[consumer] -= 1

    async def give_back(self, tag: int) -> None:
        """Return one delivery to its queue (the broker counts the delivery)."""
        if self.open:
            self._settled(tag)
            try:
                await self.channel.basic_nack(tag, requeue=True, wait=False)
            except Exception as exc:  # the channel closed: the broker returns it anyway
                log.debug("nack of delivery %d failed: %s", tag, exc)

    async def stop_consuming(self) -> None:
        for tag in list(self.consumers.values()):
            if self.open:
                await asyncio.wait_for(self.channel.basic_cancel(tag), 5)
        self.consumers.clear()


def _head_order(buffer: deque[Arrival]) -> tuple[float, str]:
    job = buffer[0].job
    return (0.0, "") if job is None else (job.run_at, job.id)
