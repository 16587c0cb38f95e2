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
from dataclasses import dataclass

from asynctasq.drivers.base import Driver

__all__ = ["HeldLease", "HeldLeases", "RenewalThread", "renew_leases"]

log = logging.getLogger("asynctasq.worker")


@dataclass(frozen=True, slots=True)
class HeldLease:
    job_id: str
    lease: float  # seconds each renewal extends it by
    timeout: float | None  # the job's own timeout


class HeldLeases:
    """The leases a worker holds: from reservation until its outcome is settled.
    Written on the worker's loop, read by the renewal thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, HeldLease] = {}
        self._refused: set[str] = set()  # not renewed once: maybe settled a moment ago
        self._lost: set[str] = set()

    def hold(self, job_id: str, lease: float, timeout: float | None = None) -> None:
        with self._lock:
            self._held[job_id] = HeldLease(job_id, lease, timeout)

    def drop(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._held.pop(job_id, None)
                self._refused.discard(job_id)
                self._lost.discard(job_id)

    def snapshot(self) -> list[HeldLease]:
        with self._lock:
            return list(self._held.values())

    def refused(self, job_ids: Iterable[str]) -> list[str]:
        """Note leases the broker would not renew; returns those now known lost.

        A job whose outcome was just settled is refused too, until the answer to the
        settle reaches the worker and drops it here: so a lease counts as lost only
        when it is refused twice in a row while still held.
        """
        lost = []
        with self._lock:
            for job_id in job_ids:
                if job_id not in self._held or job_id in self._lost:
                    continue
                if job_id in self._refused:
                    self._lost.add(job_id)
                    lost.append(job_id)
                else:
                    self._refused.add(job_id)
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
    """Extend ``held`` (one round trip per lease length); warn about leases lost."""
    by_lease: dict[float, list[str]] = {}
    for item in held:
        by_lease.setdefault(max(item.lease, minimum), []).append(item.job_id)
    for lease, ids in by_lease.items():
        kept = set(await driver.renew(worker_id, ids, lease))
        for job_id in leases.refused(j for j in ids if j not in kept):
            log.warning(
                "lease of job %s was lost (it expired and the job was recovered); "
                "its outcome will be rejected",
                job_id,
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
