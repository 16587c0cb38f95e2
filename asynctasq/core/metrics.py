"""Prometheus metrics of a worker, fed by its own events.

``python -m asynctasq worker --metrics-port 9090`` (or ``ASYNCTASQ_METRICS_PORT``)
serves them on ``http://<host>:9090/metrics``. The exporter is an event emitter the
worker is given next to the user's: the worker core knows nothing of Prometheus.
Queue gauges come from ``driver.stats`` every few seconds. Every name is listed in
docs/monitoring.md. Needs ``pip install 'asynctasq[monitoring]'``.

In your own code::

    exporter = MetricsExporter(dropped_from=emitter)
    await exporter.start(port=9090, driver=driver, queues=["default"])
    worker = Worker(queue_driver=driver, event_emitter=CompositeEmitter([emitter, exporter]))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from asynctasq.config import Config, ConfigError
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.events.emitters import CompositeEmitter, EventEmitter
from asynctasq.core.events.types import Event
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, WorkerRegistry, require

__all__ = ["DURATION_BUCKETS", "MetricsExporter", "worker_metrics"]

log = logging.getLogger("asynctasq.metrics")

DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
)  # fmt: skip
QUEUE_STATES = ("pending", "active", "scheduled", "completed", "failed", "cancelled")
#: seconds between two reads of the queue statistics
STATS_INTERVAL = 5.0


@dataclass(slots=True)
class _JobSeries:
    """The labelled children of one (task, queue): looked up once, not per event."""

    enqueued: Any
    started: Any
    completed: Any
    dead: Any
    retries: Any
    completed_seconds: Any
    failed_seconds: Any


class MetricsExporter(EventEmitter):
    """Counts what the worker's events say; serves the Prometheus text format."""

    def __init__(self, *, dropped_from: EventEmitter | None = None, registry: Any = None) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError:
            raise ImportError(
                "metrics need prometheus-client: pip install 'asynctasq[monitoring]'"
            ) from None
        self.registry = registry if registry is not None else CollectorRegistry()
        self.dropped_from = dropped_from
        job, outcome = ["task", "queue"], ["task", "queue", "outcome"]
        r = self.registry
        self.enqueued = Counter("asynctasq_jobs_enqueued", "Jobs dispatched", job, registry=r)
        self.started = Counter("asynctasq_jobs_started", "Attempts started", job, registry=r)
        self.jobs = Counter(
            "asynctasq_jobs", "Jobs ended, by outcome: completed or dead", outcome, registry=r
        )
        self.retries = Counter(
            "asynctasq_job_retries", "Failed attempts scheduled to run again", job, registry=r
        )
        self.duration = Histogram(
            "asynctasq_job_duration_seconds",
            "Run time of one attempt, by outcome: completed or failed",
            outcome,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.active = Gauge("asynctasq_worker_active_jobs", "Jobs running here", registry=r)
        self.concurrency = Gauge(
            "asynctasq_worker_concurrency", "Jobs this worker may run at once", registry=r
        )
        self.queue_jobs = Gauge(
            "asynctasq_queue_jobs", "Jobs in a queue, by state", ["queue", "state"], registry=r
        )
        self.queue_paused = Gauge(
            "asynctasq_queue_paused", "1 while a queue is paused", ["queue"], registry=r
        )
        self.workers = Gauge("asynctasq_workers", "Live workers seen by the broker", registry=r)
        r.register(_DroppedEvents(self._all_dropped))
        self._series: dict[tuple[str, str], _JobSeries] = {}
        self._handlers: dict[str, Callable[[Event], None]] = {
            "task_enqueued": lambda e: self._job(e).enqueued.inc(),
            "task_started": self._on_started,
            "task_completed": self._on_completed,
            "task_failed": self._on_failed,
            "task_retrying": lambda e: self._job(e).retries.inc(),
            "task_dead": lambda e: self._job(e).dead.inc(),
            "worker_online": self._on_worker,
            "worker_heartbeat": self._on_worker,
            "worker_offline": lambda e: self.active.set(0),
        }
        self._server: Any = None
        self._poller: asyncio.Task[None] | None = None
        self._own_driver: Driver | None = None

    # -- events in ------------------------------------------------------------------

    def _all_dropped(self) -> int:
        """Events lost by the emitter this one reports on, and by this one."""
        upstream = self.dropped_from.dropped if self.dropped_from is not None else 0
        return upstream + self._dropped

    def emit(self, event: Event) -> None:
        handler = self._handlers.get(event.event_type)
        if handler is None:
            return
        try:
            handler(event)
        except Exception:
            self._dropped += 1
            log.exception("metrics: %s event not counted", event.event_type)

    def _job(self, event: Event) -> _JobSeries:
        key = (event.task or "unknown", event.queue or "unknown")
        series = self._series.get(key)
        if series is None:
            task, queue = key
            series = self._series[key] = _JobSeries(
                enqueued=self.enqueued.labels(task, queue),
                started=self.started.labels(task, queue),
                completed=self.jobs.labels(task, queue, "completed"),
                dead=self.jobs.labels(task, queue, "dead"),
                retries=self.retries.labels(task, queue),
                completed_seconds=self.duration.labels(task, queue, "completed"),
                failed_seconds=self.duration.labels(task, queue, "failed"),
            )
        return series

    def _on_started(self, event: Event) -> None:
        self._job(event).started.inc()
        self.active.inc()

    def _on_completed(self, event: Event) -> None:
        series = self._job(event)
        series.completed.inc()
        series.completed_seconds.observe((event.duration_ms or 0.0) / 1000)
        self.active.dec()

    def _on_failed(self, event: Event) -> None:
        self._job(event).failed_seconds.observe((event.duration_ms or 0.0) / 1000)
        self.active.dec()

    def _on_worker(self, event: Event) -> None:
        if event.concurrency is not None:
            self.concurrency.set(event.concurrency)
        if event.active is not None:
            self.active.set(event.active)

    # -- serving --------------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """The port being served (useful after asking for port 0)."""
        return None if self._server is None else int(self._server.server_port)

    async def start(
        self,
        port: int,
        *,
        addr: str = "0.0.0.0",
        driver: Driver | None = None,
        queues: Sequence[str] = (),
        config: Config | None = None,
        interval: float = STATS_INTERVAL,
    ) -> None:
        """Serve ``/metrics`` on ``port`` and refresh the gauges of ``queues`` from
        ``driver`` (or a connection of its own, made from ``config``)."""
        from prometheus_client import start_http_server

        try:
            self._server, _ = start_http_server(port, addr=addr, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {addr}:{port} ({exc.strerror or exc}); "
                "choose another ASYNCTASQ_METRICS_PORT (--metrics-port)"
            ) from None
        if driver is None and config is not None:
            driver = self._own_driver = DriverFactory.create_from_config(config)
        if driver is not None:
            self._poller = asyncio.create_task(
                self._poll(driver, list(queues), interval), name="asynctasq-metrics"
            )
        log.info("serving Prometheus metrics on %s:%d/metrics", addr, self.port)

    async def refresh(self, driver: Driver, queues: Sequence[str]) -> None:
        """Read the queue statistics and live workers once."""
        inspect = require(driver, Inspection, "queue metrics")
        for queue in queues or await inspect.queues():
            stats = await inspect.stats(queue)
            counts = (
                stats.depth,
                stats.processing,
                stats.scheduled,
                stats.completed,
                stats.failed,
                stats.cancelled,
            )
            for state, count in zip(QUEUE_STATES, counts, strict=True):
                self.queue_jobs.labels(queue, state).set(count)
            self.queue_paused.labels(queue).set(1 if stats.paused else 0)
        if isinstance(driver, WorkerRegistry):
            self.workers.set(len(await driver.list_workers()))

    async def _poll(self, driver: Driver, queues: list[str], interval: float) -> None:
        failing = False
        while True:
            try:
                await driver.connect()  # idempotent
                await self.refresh(driver, queues)
                if failing:
                    log.info("metrics: queue statistics readable again")
                failing = False
            except Exception as exc:
                if not failing:  # once per outage, not every few seconds
                    log.warning(
                        "metrics: cannot read queue statistics (%s: %s)", type(exc).__name__, exc
                    )
                failing = True
            await asyncio.sleep(interval)

    async def close(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        server, self._server = self._server, None
        if server is not None:
            # shutdown() waits for the serving thread's next poll: not on the loop
            await asyncio.get_running_loop().run_in_executor(None, server.shutdown)
            server.server_close()
        driver, self._own_driver = self._own_driver, None
        if driver is not None:
            with contextlib.suppress(Exception):
                await driver.disconnect()


class _DroppedEvents:
    """asynctasq_events_dropped_total, read from the emitter when scraped."""

    def __init__(self, read: Callable[[], int]) -> None:
        self.read = read

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        yield CounterMetricFamily(
            "asynctasq_events_dropped", "Events lost: sink down or buffer full", self.read()
        )


@contextlib.asynccontextmanager
async def worker_metrics(config: Config, emitter: EventEmitter) -> AsyncIterator[EventEmitter]:
    """The emitter a CLI worker gets: ``emitter``, plus the Prometheus exporter when
    ``ASYNCTASQ_METRICS_PORT`` is set."""
    if config.metrics_port is None:
        yield emitter
        return
    exporter = MetricsExporter(dropped_from=emitter)
    await exporter.start(config.metrics_port, config=config, queues=config.queues)
    try:
        yield CompositeEmitter([emitter, exporter])
    finally:
        await exporter.close()
