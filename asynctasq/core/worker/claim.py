"""The worker's claims: one at a time, given a deadline once the worker stops."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from asynctasq import early_gc
from asynctasq.core.worker.shutdown import BROKER_GRACE
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Job, JobState

__all__ = ["BURST_WAIT", "RESERVE_WAIT", "Claims", "Gate"]

#: the queues a claim may take from, and (when none) the seconds until the first reopens
Gate = Callable[[Sequence[str]], tuple[list[str], float]]

log = logging.getLogger("asynctasq.worker")

#: how long one reserve call may wait for work; bounds how long stop() waits for it
RESERVE_WAIT = 1.0
BURST_WAIT = 0.05


class Claims:
    def __init__(
        self,
        driver: Driver,
        queues: Sequence[str],
        *,
        worker_id: str,
        lease_seconds: float,
        burst: bool,
        burst_horizon: float | None = None,
        wait: float | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.driver = driver
        #: burst mode ends leaving jobs scheduled further ahead than this (None: waits
        #: for every scheduled job)
        self.burst_horizon = burst_horizon
        self._told_due: float | None = None  # the next due time burst mode last logged
        self.queues = queues
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        # burst mode must notice quickly that the queues ran dry
        self.wait = BURST_WAIT if burst else (RESERVE_WAIT if wait is None else wait)
        #: which queues may be claimed from now (a rate limited queue waits for its
        #: next token), and when the first reopens (middleware/rate_limits.py)
        self.gate = gate
        self._deadline: asyncio.Timeout | None = None  # of the claim under way
        self._pause: asyncio.Future[None] | None = None  # waiting for a token

    async def claim(self, limit: int) -> list[Job]:
        """One claim; once limit_time() is called it has a deadline."""
        early_gc.resume()  # a worker's start-up ends at its first claim (early_gc.py)
        queues: Sequence[str] = self.queues
        if self.gate is not None:
            queues, reopens_in = self.gate(queues)
            if not queues:  # every queue waits for a token: claim nothing till then
                self._pause = asyncio.ensure_future(
                    asyncio.sleep(min(max(reopens_in, 0.001), self.wait))
                )
                try:
                    await self._pause
                except asyncio.CancelledError:  # cut short by limit_time(): stopping
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # this task itself is cancelled
                finally:
                    self._pause = None
                return []
        deadline = self._deadline = asyncio.timeout(None)
        try:
            async with deadline:
                return await self.driver.reserve(
                    queues,
                    limit=limit,
                    worker_id=self.worker_id,
                    lease_seconds=self.lease_seconds,
                    wait=self.wait,
                )
        except TimeoutError:
            if not deadline.expired():
                raise  # the driver's own
            log.warning("stopping without the answer to a claim: its jobs return after their lease")
            return []
        finally:
            self._deadline = None

    async def drained(self) -> bool:
        """Whether the queues hold nothing pending, nor scheduled within the burst
        horizon (burst mode's end); says what it waits for, and what it leaves."""
        driver = self.driver
        await driver.quiesce()  # a job claimed in the background counts as pending
        if not isinstance(driver, Inspection):
            return True  # nothing claimable just now is all a bare driver can tell
        later: list[float] = []
        for queue in self.queues:
            stats = await driver.stats(queue)
            if stats.depth:
                return False
            if stats.scheduled:
                due = await _next_due(driver, queue)
                horizon = self.burst_horizon
                if horizon is None or due is None or due <= time.time() + horizon:
                    self._waiting_for(due)
                    return False
                later.append(due)
        if later:
            log.info(
                "burst: leaving jobs scheduled beyond the %.0fs horizon (--burst-horizon), "
                "the next due at %s",
                self.burst_horizon,
                _clock(min(later)),
            )
        return True

    def _waiting_for(self, due: float | None) -> None:
        if due is not None and due == self._told_due:
            return
        self._told_due = due
        what = "scheduled jobs and retries" if due is None else f"a job scheduled at {_clock(due)}"
        log.info("burst: waiting for %s", what)

    def limit_time(self, *, immediate: bool) -> None:
        """The worker is stopping. A claim under way may already hold jobs: wait for
        them (they are released at once), but not for a broker that stopped answering."""
        if self._pause is not None:
            self._pause.cancel()
        deadline = self._deadline
        if deadline is None:
            return
        patience = RESERVE_WAIT + (0.0 if immediate else BROKER_GRACE)
        when = asyncio.get_running_loop().time() + patience
        current = deadline.when()
        if current is None or when < current:
            deadline.reschedule(when)


#: the scheduled jobs burst mode reads to find the next one due
_SCAN = 1000


async def _next_due(driver: Inspection, queue: str) -> float | None:
    jobs = await driver.list_jobs(queue, JobState.SCHEDULED, limit=_SCAN)
    return min((job.run_at for job in jobs), default=None)


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))
