"""Outcomes go to the broker in batches: one round trip for everything that finished
since the last flush. A broker outage delays outcomes; it never drops them.

With a broker that claims on settle (``Driver.claims_on_settle``), a flush also asks
for the children its completions release, up to the worker's free slots: they come
back with the answer and start at once (``claim_for`` / ``on_claimed``). Otherwise a
flush settles with ``Driver.settle_bounded``: completions the broker leaves for later
(their children would make the call long) go first in the next flush, behind which the
outcomes of the children released meanwhile go too."""

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
        self._pending: list[Outcome] = []
        self._in_flight: list[Outcome] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        #: whether the flusher was woken for what is pending (it resets this to wait)
        self._told = False
        self._closing = False
        self.rejected = 0
        self.settled = 0

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        if not self._told:  # once per flush, not once per outcome
            self._told = True
            self._idle.clear()
            self._wake.set()

    def __len__(self) -> int:
        return len(self._pending) + len(self._in_flight)

    def claims_when_flushed(self) -> bool:
        """Whether outcomes are on their way in a settle that claims for the worker
        (``claim_for``, with a broker that claims on settle)."""
        return self.claim_for is not None and len(self) > 0

    async def flushed(self, timeout: float) -> None:
        """Until everything buffered is delivered, or ``timeout`` passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    def undelivered(self) -> list[Outcome]:
        return [*self._in_flight, *self._pending]

    async def run(self) -> None:
        """Flush until closed and empty."""
        failures = 0
        while True:
            if not self._pending:
                self._idle.set()
                if self._closing:
                    return
                self._wake.clear()
                self._told = False
                await self._wake.wait()
                continue
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            self._in_flight = batch
            try:
                accepted, left = await self._settle(batch)
            except Exception as exc:
                failures += 1
                self._pending[:0] = batch  # keep them, in order, for the next try
                self._in_flight = []
                delay = min(0.05 * 2**failures, 5.0)
                log.warning(
                    "cannot report %d outcome(s) to the broker (%s: %s); retrying in %.2fs",
                    len(batch),
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("broker reachable again: %d outcome(s) reported", len(batch))
            failures = 0
            self._in_flight = []
            if left:  # completions the broker left for later: first in the next flush
                self._pending[:0] = [batch[i] for i in left]
                kept = set(left)
                accepted = [ok for i, ok in enumerate(accepted) if i not in kept]
                batch = [o for i, o in enumerate(batch) if i not in kept]
                await asyncio.sleep(0)  # the claims of the children released go first
            self.settled += len(batch)
            if self.on_settled is not None:
                self.on_settled([(o.job_id, o.attempt) for o in batch])
            if len(accepted) == len(batch) and all(accepted):  # the common case, at C speed
                continue
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
        accepted, claimed = await self.driver.settle_and_claim(batch, request)
        if claimed and self.on_claimed is not None:  # (always set with claim_for)
            self.on_claimed(claimed)
        return accepted, []

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
