"""Outcomes go to the broker in batches: one round trip for everything that finished
since the last flush. A broker outage delays outcomes; it never drops them.

A flush settles with ``Driver.settle_bounded``: the broker may leave for later the
completions whose children would make the call long (a fan-out's parents). Without a
claim in the settle, those go first in the next flush, behind which the outcomes of
the children released meanwhile go too (Redis: one script at a time holds the whole
server anyway). With a broker that claims on settle (``Driver.claims_on_settle``), a
flush also asks for the children its completions release, up to the worker's free
slots: they come back with the answer and start at once (``claim_for`` /
``on_claimed``); and what the broker left goes on a second lane, beside the flushes
(PostgreSQL: another connection), so the children released first run and are reported
while the next are released."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from asynctasq.core.worker.renewal import AttemptKey
from asynctasq.drivers.base import ClaimRequest, Driver
from asynctasq.jobs import Job, Outcome

__all__ = ["OutcomeBuffer"]

log = logging.getLogger("asynctasq.worker")


class _Lane:
    """Outcomes one sender sends in order, and the batch it has out."""

    def __init__(self) -> None:
        self.waiting: list[Outcome] = []
        self.in_flight: list[Outcome] = []
        self.failures = 0

    def __len__(self) -> int:
        return len(self.waiting) + len(self.in_flight)


class OutcomeBuffer:
    def __init__(
        self,
        driver: Driver,
        *,
        max_batch: int = 1000,
        on_settled: Callable[[list[AttemptKey]], None] | None = None,
        claim_for: Callable[[], ClaimRequest | None] | None = None,
        on_claimed: Callable[[list[Job]], None] | None = None,
    ) -> None:
        self.driver = driver
        self.max_batch = max_batch
        #: what the worker could take on now (None: nothing), asked at each flush
        self.claim_for = claim_for
        #: told the jobs a flush claimed
        self.on_claimed = on_claimed
        if on_claimed is None or not getattr(driver, "claims_on_settle", False):
            self.claim_for = None
        #: told the (job id, attempt) of each batch the broker answered for (accepted
        #: or not): an outcome fenced out speaks for its own attempt, never a later one
        self.on_settled = on_settled
        self._flushes = _Lane()
        #: what the broker left for later, sent beside the flushes (claim_for only)
        self._later = _Lane()
        self._later_sender: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        #: set at each answer of the broker (either lane)
        self._answered = asyncio.Event()
        #: whether the flusher was woken for what is pending (it resets this to wait)
        self._told = False
        self._closing = False
        self.rejected = 0
        self.settled = 0

    def add(self, outcome: Outcome) -> None:
        self._flushes.waiting.append(outcome)
        if not self._told:  # once per flush, not once per outcome
            self._told = True
            self._idle.clear()
            self._wake.set()

    def __len__(self) -> int:
        return len(self._flushes) + len(self._later)

    def claims_when_flushed(self) -> bool:
        """Whether outcomes are on their way in a settle that claims for the worker
        (``claim_for``, with a broker that claims on settle)."""
        return self.claim_for is not None and len(self) > 0

    async def answered(self, timeout: float) -> None:
        """Until the broker answers a settle (either lane), or ``timeout`` passes; at
        once when nothing is buffered."""
        if not len(self):
            return
        self._answered.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._answered.wait(), timeout)

    def undelivered(self) -> list[Outcome]:
        lanes = (self._flushes, self._later)
        return [o for lane in lanes for o in (*lane.in_flight, *lane.waiting)]

    async def run(self) -> None:
        """Flush until closed and empty (what the second lane holds included)."""
        try:
            await self._flush()
        finally:  # cancelled on the way out: the second lane goes with it
            if self._later_sender is not None:
                self._later_sender.cancel()

    async def _flush(self) -> None:
        while True:
            if not self._flushes.waiting:
                if not self._later:
                    self._idle.set()
                    if self._closing:
                        return
                self._wake.clear()
                self._told = False
                await self._wake.wait()
                continue
            sent = await self._send(self._flushes)
            if sent is None:
                continue
            batch, accepted, left = sent
            if left and self.claim_for is not None:
                self._defer(left)  # beside the next flushes
            elif left:
                self._flushes.waiting[:0] = left  # first in the next flush
                await asyncio.sleep(0)  # the claims of the children released go first
            self._report(batch, accepted)

    def _defer(self, outcomes: list[Outcome]) -> None:
        self._later.waiting.extend(outcomes)
        if self._later_sender is None or self._later_sender.done():
            self._later_sender = asyncio.create_task(
                self._flush_later(), name="asynctasq-outcomes-later"
            )

    async def _flush_later(self) -> None:
        """The second lane: settle what the broker left, a bounded call at a time
        (each applies at least one completion), until nothing is left."""
        while self._later.waiting:
            sent = await self._send(self._later)
            if sent is None:
                continue
            batch, accepted, left = sent
            self._later.waiting[:0] = left
            self._report(batch, accepted)
        self._wake.set()  # the flusher may be waiting for this lane to say it is idle

    async def _send(self, lane: _Lane) -> tuple[list[Outcome], list[bool], list[Outcome]] | None:
        """Settle the lane's next batch: (the outcomes applied, accepted, the outcomes
        the broker left); None when the broker could not be reached (the batch is kept,
        in order, for the next try, after a pause)."""
        batch = lane.waiting[: self.max_batch]
        del lane.waiting[: self.max_batch]
        lane.in_flight = batch
        try:
            accepted, left = await self._settle(batch)
        except Exception as exc:
            lane.failures += 1
            lane.waiting[:0] = batch
            lane.in_flight = []
            delay = min(0.05 * 2**lane.failures, 5.0)
            log.warning(
                "cannot report %d outcome(s) to the broker (%s: %s); retrying in %.2fs",
                len(batch),
                type(exc).__name__,
                exc,
                delay,
            )
            await asyncio.sleep(delay)
            return None
        if lane.failures:
            log.info("broker reachable again: %d outcome(s) reported", len(batch))
            lane.failures = 0
        lane.in_flight = []
        if not left:
            return batch, accepted, []
        kept = set(left)
        return (
            [o for i, o in enumerate(batch) if i not in kept],
            [ok for i, ok in enumerate(accepted) if i not in kept],
            [batch[i] for i in left],
        )

    def _report(self, batch: list[Outcome], accepted: list[bool]) -> None:
        """What the broker answered for ``batch`` (the outcomes it applied)."""
        self._answered.set()
        self.settled += len(batch)
        if self.on_settled is not None:
            self.on_settled([(o.job_id, o.attempt) for o in batch])
        if len(accepted) == len(batch) and all(accepted):  # the common case, at C speed
            return
        for outcome, ok in zip(batch, accepted, strict=True):
            if not ok:
                self.rejected += 1
                log.warning(
                    "outcome %s of job %s rejected: its lease was lost (it lapsed and "
                    "the job was taken over), or an earlier try of this report settled "
                    "it and the answer was lost",
                    type(outcome).__name__,
                    outcome.job_id,
                )

    async def _settle(self, batch: Sequence[Outcome]) -> tuple[list[bool], list[int]]:
        """(accepted, the positions the broker left for a later call)."""
        request = None if self.claim_for is None else self.claim_for()
        if request is None:
            return await self.driver.settle_bounded(batch)
        accepted, claimed, left = await self.driver.settle_and_claim(batch, request)
        if claimed and self.on_claimed is not None:  # (always set with claim_for)
            self.on_claimed(claimed)
        return accepted, left

    async def drain(self, timeout: float) -> bool:
        """Stop after delivering what is buffered; False if ``timeout`` ran out."""
        self._closing = True
        self._wake.set()
        deadline = time.monotonic() + timeout
        while len(self) and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(self._idle.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return not len(self)
