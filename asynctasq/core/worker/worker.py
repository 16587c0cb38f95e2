"""The worker: reserve a batch, pass each job through the middleware chain to its
executor, report outcomes.

worker = Worker(queue_driver=driver, queues=["critical", "default"])
await worker.start()          # until SIGTERM/SIGINT or worker.stop()

The worker knows brokers only by their core methods and the capabilities they
declare (drivers/capabilities.py), and jobs only through the chain (middleware/).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterable, Sequence
from contextvars import copy_context

from asynctasq.checks import check_seconds
from asynctasq.clock import Clock
from asynctasq.config import Config, get_global_config
from asynctasq.core.dispatcher import Dispatcher, set_dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.events.emitters import EventEmitter, NullEmitter
from asynctasq.core.logs import worker_logging_context
from asynctasq.core.scheduling.embedded import code_schedules, start_embedded_scheduler
from asynctasq.core.worker.cancellation import cancel_if_cancelled
from asynctasq.core.worker.claim import Claims
from asynctasq.core.worker.executors import Executors
from asynctasq.core.worker.job_lines import JobLines
from asynctasq.core.worker.lanes import resume
from asynctasq.core.worker.lease import LeaseKeeper, LeaseLengths
from asynctasq.core.worker.middleware import (
    Chain,
    JobContext,
    Middleware,
    WorkerRuntime,
    default_retry_delay,
    escaped,
    load_middleware,
)
from asynctasq.core.worker.prefetch import Prefetch
from asynctasq.core.worker.presence import (
    announce,
    broker_location,
    default_worker_id,
    log_what_the_driver_lacks,
    worker_info,
)
from asynctasq.core.worker.progress import ProgressReporter
from asynctasq.core.worker.recovery_hooks import RecoveryHooks
from asynctasq.core.worker.renewal import AttemptKey, HeldLeases, RenewalThread
from asynctasq.core.worker.runner import JobRunner
from asynctasq.core.worker.settlement import OutcomeBuffer
from asynctasq.core.worker.shutdown import (
    SignalHandlers,
    deliver_outcomes,
    within_grace,
)
from asynctasq.drivers.base import ClaimRequest, Driver
from asynctasq.drivers.capabilities import Results, WorkerRegistry
from asynctasq.jobs import Completed, Job, Outcome, Released, WorkerInfo, validate_name
from asynctasq.schedules import Schedule
from asynctasq.serialization.msgpack import Serializer, serializer_for
from asynctasq.tasks.registry import TaskRegistry, import_task_modules
from asynctasq.tasks.registry import registry as default_registry

__all__ = ["Worker", "default_worker_id"]

log = logging.getLogger("asynctasq.worker")

#: how long an idle worker waits for a settle that claims for it before it claims
#: itself (a lost broker: its flushes retry, and the claim must go on and say so)
SETTLE_FIRST_WAIT = 0.5


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
        burst_horizon: float | None = None,
        config: Config | None = None,
        registry: TaskRegistry | None = None,
        task_modules: Iterable[str] | None = None,
        serializer: Serializer | None = None,
        handle_signals: bool = True,
        middleware: Sequence[Middleware] | None = None,
        clock: Clock | None = None,
        supervisor: str | None = None,
        reserve_wait: float | None = None,
    ) -> None:
        self.config = config = config or get_global_config()
        self.driver = queue_driver or DriverFactory.create_from_config(config)
        self.queues = [validate_name("queue", q) for q in (queues or config.queues)]
        if not self.queues:
            raise ValueError("a worker needs at least one queue")
        self.worker_id = worker_id or default_worker_id()
        #: the supervisor that started this worker (``--processes``), shown in its record
        self.supervisor = supervisor
        self.concurrency = concurrency or config.concurrency
        self.prefetch = config.prefetch if prefetch is None else prefetch
        # times given here skip Config's checks: a NaN must not reach a lease or a sleep
        self.heartbeat_interval = check_seconds(
            "heartbeat_interval", heartbeat_interval or config.heartbeat_interval, positive=True
        )
        self.lease_seconds = check_seconds(
            "lease_seconds", lease_seconds or config.lease_seconds, positive=True
        )
        self.shutdown_timeout = check_seconds(
            "shutdown_timeout",
            config.shutdown_timeout if shutdown_timeout is None else shutdown_timeout,
        )
        self.burst = burst
        #: most seconds one claim waits for work before looking again (also how late a
        #: delayed job may be noticed where the broker cannot wake the worker)
        self.reserve_wait = (
            None
            if reserve_wait is None
            else check_seconds("reserve_wait", reserve_wait, positive=True)
        )
        #: burst mode stops leaving jobs scheduled further ahead (None: waits for all)
        self.burst_horizon = (
            None if burst_horizon is None else check_seconds("burst_horizon", burst_horizon)
        )
        self.registry = registry or default_registry
        self.task_modules = list(config.task_modules if task_modules is None else task_modules)
        self.serializer = serializer or serializer_for(self.config)
        self.emitter: EventEmitter = event_emitter or NullEmitter()
        self.handle_signals = handle_signals
        #: yours, placed among the built-ins by their before/after (middleware/chain.py)
        self.middleware = list(
            load_middleware(config.middleware) if middleware is None else middleware
        )
        self._chain = Chain(self.middleware)  # a placement that cannot be honoured fails here
        #: leases, heartbeats, retry times and durations; the driver's clock by default
        self.clock: Clock = clock or self.driver.clock

        #: by (job id, attempt): after a lapse of its own lease, this worker may run a
        #: second attempt of a job while the first is still finishing
        self._running: dict[AttemptKey, asyncio.Task[None]] = {}
        #: claimed ahead of free slots (prefetch), started as slots free up
        self._ready: collections.deque[Job] = collections.deque()
        #: leases held from reservation until the outcome is settled
        self._leases = HeldLeases()
        self._lease_for = LeaseLengths(self.registry, self.lease_seconds)
        self._slot_freed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._hurry = asyncio.Event()  # a second signal: stop waiting on anything
        self._claims: Claims | None = None
        #: the first heartbeat and recovery sweep, which run beside the first claim
        self._first_round: asyncio.Future[None] | None = None
        self._immediate = False
        self._started_at = 0.0
        self.processed = 0
        self._job_lines = JobLines()
        #: whether the jobs claimed last get a job line (the job log's level then)
        self._chatty = False
        #: a lane is starting jobs (lanes.py): _fill opens another only once it stops
        self._lane_open = False
        self._owns_driver = queue_driver is None

    # -- lifecycle -------------------------------------------------------------------

    def stop(self, *, immediate: bool = False) -> None:
        """Ask the worker to stop: finish in-flight jobs (within shutdown_timeout),
        or with ``immediate`` release them to the queue right away."""
        self._immediate = self._immediate or immediate
        self._stop_requested.set()
        self._slot_freed.set()
        if self._claims is not None:
            self._claims.limit_time(immediate=self._immediate)
        if immediate:
            self._hurry.set()
            for task in list(self._running.values()):
                task.cancel()

    async def start(self) -> None:
        """Run until stopped (signal, stop(), or empty queues in burst mode)."""
        with worker_logging_context(self.worker_id):  # each record logged names this worker
            await self._serve()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        import_task_modules(self.task_modules)
        await self.driver.connect()  # idempotent: a connected driver is left as is
        executors = Executors(
            thread_pool_size=self.config.thread_pool_size or self.concurrency,
            process_pool_size=self.config.process_pool_size,
            max_tasks_per_child=self.config.process_pool_max_tasks_per_child,
            task_modules=self.task_modules,
        )
        self._executors = executors
        #: the process pool's start, once the first claim has answered (not before:
        #: on a small machine its processes would slow the first job down)
        self._warm_up: asyncio.Task[None] | None = None
        self._outcomes = OutcomeBuffer(
            self.driver,
            on_settled=self._settled,
            claim_for=self._claim_on_settle,
            on_claimed=self._claimed_on_settle,
        )
        self._runtime = WorkerRuntime(
            worker_id=self.worker_id,
            queues=tuple(self.queues),
            driver=self.driver,
            config=self.config,
            clock=self.clock,
            emitter=self.emitter,
            serializer=self.serializer,
            registry=self.registry,
            executors=executors,
            keep_result=self.driver.keep_completed or isinstance(self.driver, Results),
            default_retry=default_retry_delay(self.config),
        )
        self._runner = JobRunner(
            self._runtime,
            progress=ProgressReporter(
                self.driver, worker_id=self.worker_id, leases=self._leases, emitter=self.emitter
            ),
        )
        self._recovery_hooks = RecoveryHooks(self._runner)
        # a thread only with a driver built from the settings (they describe the broker)
        self._renewal = (
            None
            if not self._owns_driver
            else RenewalThread.when_useful(
                self.config,
                self.driver,
                self.clock,
                worker_id=self.worker_id,
                leases=self._leases,
                lease_seconds=self.lease_seconds,
                tick=min(self.heartbeat_interval, self.lease_seconds / 3),
            )
        )
        self._lease = LeaseKeeper(
            self.driver,
            worker_id=self.worker_id,
            lease_seconds=self.lease_seconds,
            heartbeat_interval=self.heartbeat_interval,
            leases=self._leases,
            worker_info=self.info,
            on_heartbeat=lambda info: announce(self.emitter, "worker_heartbeat", info),
            renewal_thread=self._renewal,
            on_dead=self._recovery_hooks.dead_lettered,
            on_lost=lambda lost: cancel_if_cancelled(self.driver, lost, self._running),
            clock=self.clock,
        )
        # an app running a worker on its own loop (Queue.run()) gets its default back after
        self._app_dispatcher = set_dispatcher(
            Dispatcher(self.driver, self.config, event_emitter=self.emitter)
        )
        signals = SignalHandlers(self.stop, lambda: self.stop(immediate=True))
        if self.handle_signals:
            signals.install()
        self._started_at = self.clock.time()
        flusher = asyncio.create_task(self._outcomes.run(), name="asynctasq-outcomes")
        pulse: asyncio.Task[None] | None = None
        scheduler: asyncio.Task[None] | None = None
        try:
            self._handle = await self._chain.start(self._runtime, self._runner.execute)
            log_what_the_driver_lacks(self.driver, burst=self.burst)
            announce(self.emitter, "worker_online", self.info())
            # the worker's record and the first recovery sweep run beside the first
            # claim, which needs neither (recovery goes by leases, never by the
            # records of workers): a waiting job starts a few round trips sooner.
            # The claim goes first (it takes the connection a pool holds at start).
            # The sweep is never skipped: burst mode waits for it (_drained), and
            # a failure of either ends the start as it did when they came first.
            # The renewal thread starts before the claim: a first job that blocks the
            # loop at once must not leave its lease unrenewed (tests/chaos/test_leases)
            if self._renewal is not None:
                self._renewal.start()
            claiming = asyncio.create_task(self._reserve_loop(), name="asynctasq-reserve")
            self._first_round = asyncio.ensure_future(self._register_and_recover())
            try:
                await self._first_round
                pulse = asyncio.create_task(self._lease.run(), name="asynctasq-lease")
                if not self.burst:  # every worker fires schedules: no beat process to run
                    scheduler = start_embedded_scheduler(
                        self.driver, self._schedules(), self.clock, self.serializer
                    )
                log.info(
                    "worker %s serving %s (concurrency %d) on %s",
                    self.worker_id,
                    ",".join(self.queues),
                    self.concurrency,
                    broker_location(self.driver),
                )
                await claiming
            finally:
                await _cancel_and_wait(claiming)
        finally:
            if scheduler is not None:
                scheduler.cancel()
            await self._shutdown(flusher, pulse)
            self._job_lines.flush()
            signals.uninstall()

    async def _register_and_recover(self) -> None:
        await self._lease.beat()
        await self._lease.recover()

    def _schedules(self) -> list[Schedule]:
        default = self.config.default_queue
        return code_schedules(self.registry, self.queues, default, self.serializer)

    async def _reserve_loop(self) -> None:
        claims = self._claims = Claims(
            self.driver,
            self.queues,
            worker_id=self.worker_id,
            lease_seconds=self.lease_seconds,
            burst=self.burst,
            burst_horizon=self.burst_horizon,
            wait=self.reserve_wait,
            gate=self._chain.rate_limiter.open_queues if self._chain.rate_limiter.enabled else None,
        )
        failures = 0
        warm_up = self.config.process_pool_prestart  # once the first claim has answered
        backlog_limit = max(self.concurrency * 10, 1000)
        prefetch, loop = Prefetch(self.concurrency, self.prefetch), self._loop
        dry = False  # the last claim found fewer jobs than it asked for
        while not self._stop_requested.is_set():
            wanted = self.concurrency + prefetch.ahead
            room = wanted - len(self._running) - len(self._ready)
            # with jobs in hand, top up only once half the room is free: claim in batches
            topped_up = self._ready and room < wanted // 2
            if room <= 0 or topped_up or len(self._outcomes) > backlog_limit:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                await asyncio.sleep(0)  # let sibling jobs finish too: reserve in batches
                continue
            if (
                dry
                and not self._running
                and not self._ready
                and self._outcomes.claims_when_flushed()
            ):
                # idle, the last claim took all there was, and the settle of the last
                # outcomes claims for this worker (PostgreSQL: a parent's settle takes
                # its released child): that answer first. A claim sent beside it would
                # slow that settle down, on the path from a parent's end to its child's
                # start. (With a backlog, claims come back full and go at once, beside
                # the settles, which then claim nothing.)
                await self._outcomes.answered(SETTLE_FIRST_WAIT)
                if self._ready or self._running or self._stop_requested.is_set():
                    continue
            started = loop.time()
            try:
                jobs = await claims.claim(room)
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
            now = loop.time()
            dry = len(jobs) < room
            prefetch.claimed(len(jobs), now - started, now, self.processed)
            if warm_up:
                warm_up, self._warm_up = False, self._executors.warm_up()
            if failures:
                log.info("broker reachable again")
                failures = 0
            self._leases.hold_claimed(jobs, self._lease_for)
            self._ready.extend(jobs)
            self._chatty = self._job_lines.enabled  # looked at once per claim, not per job
            if self._stop_requested.is_set():
                break  # claimed while stopping: _shutdown hands them back at once
            idle = not self._running
            self._fill()
            if jobs and idle:
                # the worker was idle: let the jobs just launched reach their first
                # line before the next claim is packed and sent (an idle worker's
                # latency); a busy worker claims at once, to overlap the round trip
                await asyncio.sleep(0)
            if not jobs and self.burst and await self._drained():
                log.info("burst: queues drained, stopping")
                break

    def _fill(self) -> None:
        """Start claimed jobs while there are free slots: a lane takes them (lanes.py)."""
        if (
            self._lane_open
            or not self._ready
            or len(self._running) >= self.concurrency
            or self._stop_requested.is_set()
        ):
            return
        self._lane_open = True
        self._loop.create_task(self._lane(), name="asynctasq-job")

    async def _lane(self) -> None:
        """Start ready jobs one after the other while slots are free: each runs here
        up to its first suspension. One that suspends keeps this Task as its own, and
        another lane goes on with the rest."""
        lane = asyncio.current_task()
        assert lane is not None
        ready, running, concurrency = self._ready, self._running, self.concurrency
        stopping, now = self._stop_requested, self.clock.time
        while ready and len(running) < concurrency and not stopping.is_set():
            job = ready.popleft()
            if job.expires_at is not None and job.expires_at <= now():
                self._hand_back_expired(job)
                continue
            if job.timeout is not None:  # held since its claim; from now on, up to its timeout
                self._leases.hold(job.id, job.attempts, self._lease_for(job), job.timeout)
            running[(job.id, job.attempts)] = lane
            coro = self._run(job)
            context = copy_context()  # the job's own, as a Task of its own would have
            try:  # up to the job's first suspension (lanes.py)
                awaited = context.run(coro.send, None)
            except StopIteration:
                if lane.cancelling():  # the job cancelled its own Task: that Task ends
                    break
                continue
            except BaseException:  # not a job's failure (_run reports those): a bug, or
                self._lane_open = False  # KeyboardInterrupt. The others go on elsewhere
                self._fill()
                raise
            self._lane_open = False  # this lane is that job's from now on
            self._fill()
            await resume(coro, context, awaited)
            return
        self._lane_open = False
        if lane.cancelling():
            self._fill()

    def _hand_back_expired(self, job: Job) -> None:
        """The backstop of ttl (docs/flow-control.md): a job whose ttl ran out while it
        waited in this worker (claimed ahead) never starts. It goes back to its broker,
        attempt not counted, and the broker's next claim of it moves it to expired."""
        log.info("job %s (%s): its ttl ran out before it started: not run", job.id, job.task)
        self._report(Released(job.id, self.worker_id, job.attempts, queue=job.queue))

    def _release_unstarted(self) -> None:
        while self._ready:
            job = self._ready.popleft()
            self._report(Released(job.id, self.worker_id, job.attempts, queue=job.queue))

    async def _run(self, job: Job) -> None:
        ctx = JobContext(job, self._runtime)
        lines = self._job_lines
        chatty = self._chatty
        if chatty:
            started = self._loop.time()
            lines.started(started, job.id, job.task, job.attempts)
        try:
            outcome = await self._handle(ctx)
            if not isinstance(outcome, Outcome):
                raise TypeError(
                    f"the middleware chain returned {outcome!r}, not an outcome: a middleware "
                    "must return what call_next returned, or an outcome of its own"
                )
        except BaseException as exc:  # never lose a job to a bug in the chain
            outcome = escaped(ctx, exc)
            if not isinstance(exc, Exception | asyncio.CancelledError):
                raise
        finally:
            self._running.pop((job.id, job.attempts), None)
            if self._ready and not self._lane_open:  # (an open lane takes them itself)
                self._fill()
            self._slot_freed.set()
        self.processed += 1
        if chatty and type(outcome) is Completed:  # failures and retries log their own
            now = self._loop.time()
            lines.completed(now, job.id, job.task, (now - started) * 1000)
        # still_current(), its common answer inlined: no later attempt of the job held
        if self._leases._newest.get(job.id, 0) <= job.attempts or self._leases.still_current(
            outcome
        ):
            self._outcomes.add(outcome)

    def _report(self, outcome: Outcome) -> None:
        if self._leases.still_current(outcome):
            self._outcomes.add(outcome)

    def _claim_on_settle(self) -> ClaimRequest | None:
        """What a settle may claim for this worker: its free slots (not the prefetch:
        the reserve loop claims ahead), from the queues its claims may take from now."""
        room = self.concurrency - len(self._running) - len(self._ready)
        if room <= 0 or self._stop_requested.is_set():
            return None
        queues: Sequence[str] = self.queues
        if self._chain.rate_limiter.enabled:
            queues, _ = self._chain.rate_limiter.open_queues(queues)
            if not queues:
                return None
        return ClaimRequest(tuple(queues), room, self.worker_id, self.lease_seconds)

    def _claimed_on_settle(self, jobs: list[Job]) -> None:
        """Children a settle claimed for this worker: started as reserved ones are."""
        self._leases.hold_claimed(jobs, self._lease_for)
        self._ready.extend(jobs)
        if self._stop_requested.is_set():
            self._release_unstarted()  # claimed while stopping: handed back at once
        else:
            self._fill()

    def _settled(self, attempts: list[AttemptKey]) -> None:
        self._leases.drop(attempts)
        self._slot_freed.set()  # the reserve loop may be waiting for the backlog to shrink

    async def _drained(self) -> bool:
        if self._running or self._ready or len(self._outcomes):
            return False
        if self._first_round is not None and not self._first_round.done():
            await asyncio.wait([self._first_round])  # what it recovers is still to run
            return False
        return self._claims is None or await self._claims.drained()

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), seconds)

    async def _shutdown(
        self, flusher: asyncio.Task[None], pulse: asyncio.Task[None] | None
    ) -> None:
        self._stop_requested.set()
        self._lease.recovering = False  # left to the workers that stay
        self._release_unstarted()
        hooks = self._recovery_hooks.pending
        if (self._running or hooks) and not self._immediate:
            log.info(
                "waiting up to %.0fs for %d in-flight job(s)",
                self.shutdown_timeout,
                len(self._running) + len(hooks),
            )
            tasks = list(self._running.values())
            await asyncio.wait([*tasks, *hooks], timeout=self.shutdown_timeout)
        self._recovery_hooks.cancel()
        leftovers = list(self._running.values())
        for task in leftovers:
            task.cancel()  # their runners release them to pending
        if leftovers:
            await asyncio.wait(leftovers, timeout=5)
        if self._warm_up is not None and not self._warm_up.done():
            await asyncio.wait([self._warm_up], timeout=10)  # then close() retires them
        await self._executors.close(kill=bool(leftovers))
        await deliver_outcomes(self._outcomes, max(self.shutdown_timeout, 10.0), self._hurry)
        await self._chain.stop()
        flusher.cancel()
        if pulse is not None:
            pulse.cancel()
        if self._renewal is not None:
            await self._renewal.stop()
        if isinstance(self.driver, WorkerRegistry):
            await within_grace(self.driver.remove_worker(self.worker_id), "remove_worker")
        announce(self.emitter, "worker_offline", self.info())
        with contextlib.suppress(RuntimeError):
            set_dispatcher(self._app_dispatcher)
        if self._owns_driver:
            await within_grace(self.driver.disconnect(), "disconnect")
        log.info("worker %s stopped after %d job(s)", self.worker_id, self.processed)

    # -- reporting -------------------------------------------------------------------

    def info(self) -> WorkerInfo:
        return worker_info(
            self.worker_id,
            self.queues,
            concurrency=self.concurrency,
            active=len(self._running),
            started_at=self._started_at,
            clock=self.clock,
            supervisor=self.supervisor,
        )


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` unless it ended, and wait until it has (an error of its own is
    dropped: the one that brought us here is the one to report)."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()
