"""The worker: reserve a batch, run each job on its executor, report outcomes.

worker = Worker(queue_driver=driver, queues=["critical", "default"])
await worker.start()          # until SIGTERM/SIGINT or worker.stop()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

from asynctasq.config import Config, get_global_config
from asynctasq.core.dispatcher import Dispatcher, set_dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.events.emitters import EventEmitter, NullEmitter
from asynctasq.core.events.types import Event
from asynctasq.core.logs import worker_logging_context
from asynctasq.core.worker.executors import Executors
from asynctasq.core.worker.lease import LeaseKeeper
from asynctasq.core.worker.renewal import HeldLeases, RenewalThread
from asynctasq.core.worker.runner import JobRunner
from asynctasq.core.worker.settlement import OutcomeBuffer
from asynctasq.core.worker.shutdown import (
    BROKER_GRACE,
    SignalHandlers,
    deliver_outcomes,
    within_grace,
)
from asynctasq.drivers.base import Driver
from asynctasq.jobs import Job, Released, WorkerInfo, validate_name
from asynctasq.serialization.msgpack import Serializer, default_serializer
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.registry import TaskRegistry, import_task_modules
from asynctasq.tasks.registry import registry as default_registry

__all__ = ["Worker", "default_worker_id"]

log = logging.getLogger("asynctasq.worker")

#: how long one reserve call may wait for work; bounds how long stop() waits for it
RESERVE_WAIT = 1.0
BURST_WAIT = 0.05


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        queue_driver: Driver | None = None,
        queues: Sequence[str] | None = None,
        *,
        event_emitter: EventEmitter | None = None,
        worker_id: str | None = None,
        concurrency: int | None = None,
        prefetch: int | None = None,
        heartbeat_interval: float | None = None,
        lease_seconds: float | None = None,
        shutdown_timeout: float | None = None,
        burst: bool = False,
        config: Config | None = None,
        registry: TaskRegistry | None = None,
        task_modules: Iterable[str] | None = None,
        serializer: Serializer | None = None,
        handle_signals: bool = True,
    ) -> None:
        self.config = config = config or get_global_config()
        self.driver = queue_driver or DriverFactory.create_from_config(config)
        self.queues = [validate_name("queue", q) for q in (queues or config.queues)]
        if not self.queues:
            raise ValueError("a worker needs at least one queue")
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency or config.concurrency
        self.prefetch = config.prefetch if prefetch is None else prefetch
        self.heartbeat_interval = heartbeat_interval or config.heartbeat_interval
        self.lease_seconds = lease_seconds or config.lease_seconds
        self.shutdown_timeout = (
            config.shutdown_timeout if shutdown_timeout is None else shutdown_timeout
        )
        self.burst = burst
        self.registry = registry or default_registry
        self.task_modules = list(config.task_modules if task_modules is None else task_modules)
        self.serializer = serializer or default_serializer
        self.emitter: EventEmitter = event_emitter or NullEmitter()
        self.handle_signals = handle_signals

        self._running: dict[str, tuple[asyncio.Task[None], Job, float]] = {}
        #: claimed ahead of free slots (prefetch), started as slots free up
        self._ready: collections.deque[Job] = collections.deque()
        #: leases held from reservation until the outcome is settled
        self._leases = HeldLeases()
        self._slot_freed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._hurry = asyncio.Event()  # a second signal: stop waiting on anything
        self._claim: asyncio.Timeout | None = None  # the deadline of a claim under way
        self._immediate = False
        self._started_at = 0.0
        self.processed = 0
        self._owns_driver = queue_driver is None

    # -- lifecycle -------------------------------------------------------------------

    def stop(self, *, immediate: bool = False) -> None:
        """Ask the worker to stop: finish in-flight jobs (within shutdown_timeout),
        or with ``immediate`` release them to the queue right away."""
        self._immediate = self._immediate or immediate
        self._stop_requested.set()
        self._slot_freed.set()
        self._limit_claim()
        if immediate:
            self._hurry.set()
            for task, _, _ in list(self._running.values()):
                task.cancel()

    async def start(self) -> None:
        """Run until stopped (signal, stop(), or empty queues in burst mode)."""
        with worker_logging_context(self.worker_id):  # each record logged names this worker
            await self._serve()

    async def _serve(self) -> None:
        import_task_modules(self.task_modules)
        await self.driver.connect()  # idempotent: a connected driver is left as is
        executors = Executors(
            thread_pool_size=self.config.thread_pool_size or self.concurrency,
            process_pool_size=self.config.process_pool_size,
            max_tasks_per_child=self.config.process_pool_max_tasks_per_child,
            task_modules=self.task_modules,
        )
        self._executors = executors
        self._warm_up = executors.warm_up() if self.config.process_pool_prestart else None
        self._outcomes = OutcomeBuffer(self.driver, on_settled=self._settled)
        self._runner = JobRunner(
            worker_id=self.worker_id,
            config=self.config,
            registry=self.registry,
            executors=executors,
            serializer=self.serializer,
            emitter=self.emitter,
            keep_result=self.driver.keep_completed,
            allow=self.config.task_allow_list,
            progress=self._report_progress,
        )
        self._renewal = self._renewal_thread()
        self._lease = LeaseKeeper(
            self.driver,
            worker_id=self.worker_id,
            lease_seconds=self.lease_seconds,
            heartbeat_interval=self.heartbeat_interval,
            leases=self._leases,
            worker_info=self.info,
            on_heartbeat=lambda info: self._emit_worker("worker_heartbeat", info),
            renewal_thread=self._renewal,
        )
        set_dispatcher(Dispatcher(self.driver, self.config, event_emitter=self.emitter))
        signals = SignalHandlers(self.stop, lambda: self.stop(immediate=True))
        if self.handle_signals:
            signals.install()
        self._started_at = time.time()
        flusher = asyncio.create_task(self._outcomes.run(), name="asynctasq-outcomes")
        pulse: asyncio.Task[None] | None = None
        try:
            self._emit_worker("worker_online", self.info())
            await self._lease.beat()
            await self.driver.recover_expired()
            if self._renewal is not None:
                self._renewal.start()
            pulse = asyncio.create_task(self._lease.run(), name="asynctasq-lease")
            log.info(
                "worker %s serving %s (concurrency %d) on %s",
                self.worker_id,
                ",".join(self.queues),
                self.concurrency,
                self.driver.name,
            )
            await self._reserve_loop()
        finally:
            await self._shutdown(flusher, pulse)
            signals.uninstall()

    async def _reserve_loop(self) -> None:
        failures = 0
        backlog_limit = max(self.concurrency * 10, 1000)
        while not self._stop_requested.is_set():
            room = self.concurrency + self.prefetch - len(self._running) - len(self._ready)
            # with jobs in hand, top up only once half the room is free: claim in batches
            topped_up = self._ready and room < (self.concurrency + self.prefetch) // 2
            if room <= 0 or topped_up or len(self._outcomes) > backlog_limit:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                await asyncio.sleep(0)  # let sibling jobs finish too: reserve in batches
                continue
            try:
                jobs = await self._reserve(room)
            except Exception as exc:
                failures += 1
                delay = min(0.1 * 2**failures, 10.0)
                log.warning(
                    "cannot reserve jobs (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await self._sleep_unless_stopped(delay)
                continue
            if failures:
                log.info("broker reachable again")
                failures = 0
            for job in jobs:
                self._leases.hold(job.id, self._lease_for(job))
            self._ready.extend(jobs)
            if self._stop_requested.is_set():
                break  # claimed while stopping: _shutdown hands them back at once
            self._fill()
            if not jobs and self.burst and await self._drained():
                log.info("burst: queues drained, stopping")
                break

    async def _reserve(self, limit: int) -> list[Job]:
        """One claim; once stop() is called it has a deadline (see _limit_claim)."""
        claim = self._claim = asyncio.timeout(None)
        try:
            async with claim:
                return await self.driver.reserve(
                    self.queues,
                    limit=limit,
                    worker_id=self.worker_id,
                    lease_seconds=self.lease_seconds,
                    # burst mode must notice quickly that the queues ran dry
                    wait=BURST_WAIT if self.burst else RESERVE_WAIT,
                )
        except TimeoutError:
            if not claim.expired():
                raise  # the driver's own
            log.warning("stopping without the answer to a claim: its jobs return after their lease")
            return []
        finally:
            self._claim = None

    def _limit_claim(self) -> None:
        """A claim under way may already hold jobs: wait for them (they are released
        at once), but not for a broker that stopped answering."""
        claim = self._claim
        if claim is None:
            return
        patience = RESERVE_WAIT + (0.0 if self._immediate else BROKER_GRACE)
        when = asyncio.get_running_loop().time() + patience
        current = claim.when()
        if current is None or when < current:
            claim.reschedule(when)

    def _fill(self) -> None:
        """Start claimed jobs while there are free slots."""
        while self._ready and len(self._running) < self.concurrency:
            if self._stop_requested.is_set():
                return
            self._launch(self._ready.popleft())

    def _release_unstarted(self) -> None:
        while self._ready:
            job = self._ready.popleft()
            self._outcomes.add(Released(job.id, self.worker_id, job.attempts, queue=job.queue))

    def _launch(self, job: Job) -> None:
        lease = self._lease_for(job)
        self._leases.hold(job.id, lease, job.timeout)
        task = asyncio.create_task(self._run(job), name=f"asynctasq-job-{job.id}")
        self._running[job.id] = (task, job, lease)

    async def _run(self, job: Job) -> None:
        try:
            outcome = await self._runner.run(job)
        except BaseException as exc:  # never lose a job to a bug of ours
            if isinstance(exc, asyncio.CancelledError):  # shutdown, outside the body
                log.warning("job %s interrupted by shutdown; released", job.id)
            else:
                log.exception("job %s: internal error; released", job.id)
            outcome = Released(job.id, self.worker_id, job.attempts, queue=job.queue)
            if not isinstance(exc, Exception | asyncio.CancelledError):
                raise
        finally:
            self._running.pop(job.id, None)
            self._fill()
            self._slot_freed.set()
        self.processed += 1
        self._outcomes.add(outcome)

    def _settled(self, job_ids: list[str]) -> None:
        self._leases.drop(job_ids)
        self._slot_freed.set()  # the reserve loop may be waiting for the backlog to shrink

    def _lease_for(self, job: Job) -> float:
        cls = self.registry._tasks.get(job.task)
        vt = cls.task_config.get("visibility_timeout") if cls is not None else None
        return max(vt or 0.0, self.lease_seconds)

    def _renewal_thread(self) -> RenewalThread | None:
        """Renew leases from a thread with a connection of its own, so that a task
        blocking the event loop cannot starve renewal. Only when this worker built its
        driver from its settings (they describe the broker exactly) and the broker is
        not inside this process; otherwise leases are renewed on the loop."""
        if not self._owns_driver or self.driver.name == "memory":
            return None
        # one connection is all renewal needs
        config = self.config.replace(
            postgres_min_pool_size=1,
            postgres_max_pool_size=1,
            mysql_min_pool_size=1,
            mysql_max_pool_size=1,
            redis_max_connections=4,
        )
        return RenewalThread(
            lambda: DriverFactory.create_from_config(config),
            worker_id=self.worker_id,
            leases=self._leases,
            lease_seconds=self.lease_seconds,
            tick=min(self.heartbeat_interval, self.lease_seconds / 3),
        )

    async def _drained(self) -> bool:
        if self._running or self._ready or len(self._outcomes):
            return False
        for queue in self.queues:
            stats = await self.driver.stats(queue)
            if stats.depth or stats.scheduled:
                return False
        return True

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), seconds)

    async def _shutdown(
        self, flusher: asyncio.Task[None], pulse: asyncio.Task[None] | None
    ) -> None:
        self._stop_requested.set()
        self._release_unstarted()
        if self._running and not self._immediate:
            log.info(
                "waiting up to %.0fs for %d in-flight job(s)",
                self.shutdown_timeout,
                len(self._running),
            )
            tasks = [task for task, _, _ in self._running.values()]
            await asyncio.wait(tasks, timeout=self.shutdown_timeout)
        leftovers = [task for task, _, _ in self._running.values()]
        for task in leftovers:
            task.cancel()  # their runners release them to pending
        if leftovers:
            await asyncio.wait(leftovers, timeout=5)
        if self._warm_up is not None and not self._warm_up.done():
            await asyncio.wait([self._warm_up], timeout=10)  # then close() retires them
        await self._executors.close(kill=bool(leftovers))
        await deliver_outcomes(self._outcomes, max(self.shutdown_timeout, 10.0), self._hurry)
        flusher.cancel()
        if pulse is not None:
            pulse.cancel()
        if self._renewal is not None:
            await self._renewal.stop()
        await within_grace(self.driver.remove_worker(self.worker_id), "remove_worker")
        self._emit_worker("worker_offline", self.info())
        with contextlib.suppress(RuntimeError):
            set_dispatcher(None)
        if self._owns_driver:
            await within_grace(self.driver.disconnect(), "disconnect")
        log.info("worker %s stopped after %d job(s)", self.worker_id, self.processed)

    # -- reporting -------------------------------------------------------------------

    def info(self) -> WorkerInfo:
        host, pid = socket.gethostname(), os.getpid()
        return WorkerInfo(
            worker_id=self.worker_id,
            host=host,
            pid=pid,
            queues=tuple(self.queues),
            concurrency=self.concurrency,
            active=len(self._running),
            started_at=self._started_at,
            last_seen=time.time(),
        )

    def _emit_worker(self, kind: Any, info: WorkerInfo) -> None:
        if self.emitter.enabled:
            self.emitter.emit(
                Event(
                    kind,
                    worker_id=info.worker_id,
                    host=info.host,
                    pid=info.pid,
                    queues=info.queues,
                    concurrency=info.concurrency,
                    active=info.active,
                )
            )

    async def _report_progress(
        self, task: BaseTask[Any], progress: float, meta: dict[str, Any]
    ) -> None:
        job = task._job
        if job is None:
            return
        await self.driver.set_progress(job.id, self.worker_id, progress)
        if self.emitter.enabled:
            self.emitter.emit(
                Event.for_job(
                    "task_progress", job, worker_id=self.worker_id, progress=progress, meta=meta
                )
            )
