"""Lease renewal that a busy event loop cannot starve.

An AsyncTask that calls blocking code (a sync HTTP client, a long computation)
holds the event loop: nothing else on it runs, lease renewal included. With leases
renewed on the loop, such a job would lose its lease, be recovered by another
worker and run again, and again, until dead-lettered although it never failed.

So a worker that can open a second connection to its broker renews from a thread
of its own, with its own event loop and driver. The thread also watches the main
loop: while it is blocked, a job's lease is kept only up to the job's ``timeout``
(the loop cannot enforce it meanwhile); past that, renewal stops and the lease
lapses, so a worker hung for good releases its jobs to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from asynctasq.clock import Clock, SystemClock
from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver
from asynctasq.jobs import Job, Outcome

__all__ = ["AttemptKey", "HeldLease", "HeldLeases", "RenewalThread", "renew_leases"]

log = logging.getLogger("asynctasq.worker")


#: one attempt of a job: a worker whose own lease lapsed may reserve the same job
#: again while the first attempt still runs, so in-flight records are keyed by both
#: (the same pair that fences outcomes in the broker)
AttemptKey = tuple[str, int]


class HeldLease(NamedTuple):  # a tuple: built twice per job, cheaply
    job_id: str
    attempt: int
    lease: float  # seconds each renewal extends it by
    timeout: float | None  # the job's own timeout

    @property
    def key(self) -> AttemptKey:
        return (self.job_id, self.attempt)


#: HeldLease(...) without its generated __new__ (a Python frame per claimed job)
_held_lease = tuple.__new__


class HeldLeases:
    """The leases a worker holds: from reservation until its outcome is settled, one
    per attempt. Written on the worker's loop, read by the renewal thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[AttemptKey, HeldLease] = {}
        self._newest: dict[str, int] = {}  # the latest attempt held of each job
        self._refused: set[AttemptKey] = set()  # not renewed once: maybe settled a moment ago
        self._lost: set[AttemptKey] = set()
        self._unseen_lost: list[AttemptKey] = []  # lost since take_lost() last ran

    def hold(self, job_id: str, attempt: int, lease: float, timeout: float | None = None) -> None:
        held = HeldLease(job_id, attempt, lease, timeout)
        with self._lock:
            self._held[(job_id, attempt)] = held
            if self._newest.setdefault(job_id, attempt) < attempt:
                self._newest[job_id] = attempt

    def hold_claimed(self, jobs: Iterable[Job], lease_for: Callable[[Job], float]) -> None:
        """``hold`` for each job of a claim, under one lock (from their claim on, until
        they start: no timeout counts yet)."""
        held, newest = self._held, self._newest
        with self._lock:
            for job in jobs:
                job_id, attempt = job.id, job.attempts
                lease = _held_lease(HeldLease, (job_id, attempt, lease_for(job), None))
                held[(job_id, attempt)] = lease
                if newest.setdefault(job_id, attempt) < attempt:
                    newest[job_id] = attempt

    def drop(self, keys: Iterable[AttemptKey]) -> None:
        held, newest, refused, lost = self._held, self._newest, self._refused, self._lost
        with self._lock:
            for key in keys:
                held.pop(key, None)
                if refused:  # (both empty but after a lapse: not looked at per job)
                    refused.discard(key)
                if lost:
                    lost.discard(key)
                job_id, attempt = key
                if newest.get(job_id) == attempt:
                    del newest[job_id]

    # _newest is written (hold, drop) and read (below) on the worker's loop only, so
    # these reads need no lock: one dict lookup on the per-job path

    def superseded(self, job_id: str, attempt: int) -> bool:
        """Whether this worker holds a later attempt of the job: the broker knows only
        that one now, so nothing of an earlier attempt may reach it."""
        return self._newest.get(job_id, attempt) > attempt

    def newest(self, job_id: str) -> int:
        """The latest attempt of the job held here (0: none)."""
        return self._newest.get(job_id, 0)

    def still_current(self, outcome: Outcome) -> bool:
        """Whether ``outcome`` may go to the broker. Not when this worker took the job
        again after its own lease lapsed: the broker fences this attempt's outcome out,
        and in one batch with the later attempt's it could shadow it (a broker may read
        one report per job); the attempt is forgotten here instead."""
        if self._newest.get(outcome.job_id, 0) <= outcome.attempt:  # superseded(), inlined
            return True
        log.warning(
            "job %s attempt %d ended after this worker started attempt %d of it: "
            "its outcome (%s) is dropped",
            outcome.job_id,
            outcome.attempt,
            self.newest(outcome.job_id),
            type(outcome).__name__,
        )
        self.drop([(outcome.job_id, outcome.attempt)])
        return False

    def snapshot(self) -> list[HeldLease]:
        with self._lock:
            return list(self._held.values())

    def refused(self, keys: Iterable[AttemptKey]) -> list[AttemptKey]:
        """Note leases the broker would not renew; returns those now known lost.

        A job whose outcome was just settled is refused too, until the answer to the
        settle reaches the worker and drops it here: so a lease counts as lost only
        when it is refused twice in a row while still held.
        """
        lost = []
        with self._lock:
            for key in keys:
                if key not in self._held or key in self._lost:
                    continue
                if key in self._refused:
                    self._lost.add(key)
                    lost.append(key)
                    self._unseen_lost.append(key)
                else:
                    self._refused.add(key)
        return lost

    def take_lost(self) -> list[AttemptKey]:
        """The leases found lost since the last call (a cancelled job's among them:
        the worker asks the broker which, see LeaseKeeper.on_lost)."""
        with self._lock:
            lost, self._unseen_lost = self._unseen_lost, []
        return lost

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)


async def renew_leases(
    driver: Driver,
    worker_id: str,
    leases: HeldLeases,
    held: Iterable[HeldLease],
    minimum: float,
) -> None:
    """Extend ``held`` (one round trip per lease length); warn about leases lost.

    The broker renews by job id: two attempts of one job held here share its one
    lease, the latest attempt's (the earlier one's outcome is fenced out anyway).
    """
    by_lease: dict[float, list[HeldLease]] = {}
    for item in held:
        by_lease.setdefault(max(item.lease, minimum), []).append(item)
    for lease, items in by_lease.items():
        ids = list(dict.fromkeys(item.job_id for item in items))
        kept = set(await driver.renew(worker_id, ids, lease))
        for job_id, attempt in leases.refused(i.key for i in items if i.job_id not in kept):
            log.warning(
                "lease of job %s (attempt %d) was lost (it expired and the job was "
                "recovered); its outcome will be rejected",
                job_id,
                attempt,
            )


class RenewalThread:
    """Renews ``leases`` every ``tick`` seconds through a driver of its own."""

    def __init__(
        self,
        make_driver: Callable[[], Driver],
        *,
        worker_id: str,
        leases: HeldLeases,
        lease_seconds: float,
        tick: float,
    ) -> None:
        self.make_driver = make_driver
        self.worker_id = worker_id
        self.leases = leases
        self.lease_seconds = lease_seconds
        self.tick = tick
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._main_seen = time.monotonic()
        self._stall_warned = 0.0
        self._renewed_at = float("-inf")
        #: renewal rounds that reached the broker, for tests and reports
        self.rounds = 0

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        worker_id: str,
        leases: HeldLeases,
        lease_seconds: float,
        tick: float,
    ) -> RenewalThread:
        """Renewing through a driver built from ``config``, on one connection."""
        one = config.replace(
            postgres_min_pool_size=1,
            postgres_max_pool_size=1,
            mysql_min_pool_size=1,
            mysql_max_pool_size=1,
            redis_max_connections=4,
        )
        return cls(
            lambda: DriverFactory.create_from_config(one),
            worker_id=worker_id,
            leases=leases,
            lease_seconds=lease_seconds,
            tick=tick,
        )

    @classmethod
    def when_useful(
        cls,
        config: Config,
        driver: Driver,
        clock: Clock,
        *,
        worker_id: str,
        leases: HeldLeases,
        lease_seconds: float,
        tick: float,
    ) -> RenewalThread | None:
        """A renewal thread for a worker whose ``driver`` ``config`` describes, or
        None when leases are better renewed on the loop: a broker inside this process
        (no second connection can reach it), or a clock other than the system's
        (the thread's own driver would read the system clock)."""
        if not driver.shared_across_processes or not isinstance(clock, SystemClock):
            return None
        return cls.from_config(
            config, worker_id=worker_id, leases=leases, lease_seconds=lease_seconds, tick=tick
        )

    @property
    def healthy(self) -> bool:
        """Renewing on time. Until it is (connecting at start, a broker outage) the
        worker's loop renews as well: a lease is never left to lapse meanwhile."""
        return time.monotonic() - self._renewed_at <= 2.5 * self.tick

    def start(self) -> None:
        self._main_loop = asyncio.get_running_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name="asynctasq-lease", daemon=True
        )
        self._thread.start()
        ready.wait(5)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop renewing (once every outcome is settled) and close the connection."""
        thread, loop, stop = self._thread, self._own_loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        await asyncio.get_running_loop().run_in_executor(None, thread.join, timeout)
        self._thread = None

    # -- on the renewal thread ------------------------------------------------------

    def _main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._own_loop, self._stop = loop, asyncio.Event()
        ready.set()
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        assert self._stop is not None
        driver: Driver | None = None
        try:
            while not self._stop.is_set():
                try:
                    if driver is None:
                        candidate = self.make_driver()
                        await candidate.connect()
                        driver = candidate
                    await self._renew(driver)
                except Exception as exc:
                    log.warning("lease renewal failed (%s: %s); retrying", type(exc).__name__, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.tick)
        finally:
            if driver is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(driver.disconnect(), 5)

    async def _renew(self, driver: Driver) -> None:
        stalled = self._main_stalled_for()
        held = self.leases.snapshot()
        if stalled > self.tick:
            held = self._within_timeouts(held, stalled)
        if held:
            await renew_leases(driver, self.worker_id, self.leases, held, self.lease_seconds)
        self.rounds += 1
        self._renewed_at = time.monotonic()

    def _main_stalled_for(self) -> float:
        """Seconds since the worker's loop last ran a callback of ours."""

        def seen() -> None:
            self._main_seen = time.monotonic()

        if self._main_loop is not None:
            with contextlib.suppress(RuntimeError):  # closed: the worker is exiting
                self._main_loop.call_soon_threadsafe(seen)
        return max(0.0, time.monotonic() - self._main_seen - self.tick)

    def _within_timeouts(self, held: list[HeldLease], stalled: float) -> list[HeldLease]:
        now = time.monotonic()
        quiet = now - self._stall_warned >= max(self.lease_seconds, 5 * self.tick)
        if quiet and stalled >= 1.0:
            self._stall_warned = now
            log.warning(
                "the event loop has been blocked for %.1fs: an AsyncTask is probably "
                "running blocking code (use a SyncTask for it); leases of %d job(s) are "
                "kept meanwhile, each up to its timeout",
                stalled,
                len(held),
            )
        return [h for h in held if h.timeout is None or stalled <= h.timeout]
