"""The Prometheus exporter fed by a worker's events: scraped during a run, its
counters move; at the end they match what happened."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from asynctasq import AsyncTask, Config
from asynctasq.config import ConfigError
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.events import CompositeEmitter
from asynctasq.core.metrics import MetricsExporter
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.testing import EventRecorder, drain

FAST = Config(default_retry_delay=0.01, default_retry_backoff="fixed", lease_seconds=5)


class Work(AsyncTask[None], name="metrics.work"):
    async def execute(self) -> None:
        await asyncio.sleep(0.05)


class Broken(AsyncTask[None], name="metrics.broken"):
    config = {"max_attempts": 2, "retry_delay": 0.01}

    async def execute(self) -> None:
        raise ValueError("broken")


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value in a scrape (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def scrape(port: int) -> str:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            return str(reply.read().decode())

    return await asyncio.to_thread(get)


async def test_a_scrape_during_a_run_shows_the_counters_moving() -> None:
    driver = MemoryDriver()
    await driver.connect()
    await Dispatcher(driver, FAST).dispatch_many([*(Work() for _ in range(40)), Broken()])
    user_emitter = EventRecorder()
    exporter = MetricsExporter(dropped_from=user_emitter)
    await exporter.start(0, addr="127.0.0.1", driver=driver, queues=["default"], interval=0.05)
    assert exporter.port
    emitter = CompositeEmitter([user_emitter, exporter])
    worker = asyncio.create_task(drain(driver, config=FAST, event_emitter=emitter, concurrency=2))
    try:
        seen: list[float] = []
        while not worker.done() and len(set(seen)) < 3:
            text = await scrape(exporter.port)
            seen.append(
                sample(text, "asynctasq_jobs_total", task="metrics.work", outcome="completed")
            )
            await asyncio.sleep(0.1)
        assert len(set(seen)) >= 3, f"counters did not move during the run: {seen}"
        assert seen == sorted(seen)
        running = await scrape(exporter.port)
        assert sample(running, "asynctasq_worker_concurrency") == 2
        assert sample(running, "asynctasq_workers") == 1
        await worker
        await asyncio.sleep(0.2)  # one more refresh of the queue gauges
        final = await scrape(exporter.port)
    finally:
        await exporter.close()
        await driver.disconnect()

    work, broken = {"task": "metrics.work"}, {"task": "metrics.broken"}
    assert sample(final, "asynctasq_jobs_total", **work, outcome="completed") == 40
    assert sample(final, "asynctasq_jobs_started_total", **work, queue="default") == 40
    assert sample(final, "asynctasq_jobs_total", **broken, outcome="dead") == 1
    assert sample(final, "asynctasq_job_retries_total", **broken) == 1
    assert sample(final, "asynctasq_jobs_started_total", **broken) == 2
    assert sample(final, "asynctasq_job_duration_seconds_count", **work, outcome="completed") == 40
    assert sample(final, "asynctasq_job_duration_seconds_count", **broken, outcome="failed") == 2
    assert sample(final, "asynctasq_job_duration_seconds_sum", **work) >= 40 * 0.05 * 0.9
    assert sample(final, "asynctasq_worker_active_jobs") == 0
    assert sample(final, "asynctasq_queue_jobs", queue="default", state="pending") == 0
    assert sample(final, "asynctasq_queue_jobs", queue="default", state="failed") == 1
    assert sample(final, "asynctasq_queue_paused", queue="default") == 0
    assert sample(final, "asynctasq_events_dropped_total") == 0


async def test_dropped_events_of_the_user_emitter_are_exported() -> None:
    upstream = EventRecorder()
    upstream._dropped = 7
    exporter = MetricsExporter(dropped_from=upstream)
    await exporter.start(0, addr="127.0.0.1")
    try:
        assert exporter.port
        assert sample(await scrape(exporter.port), "asynctasq_events_dropped_total") == 7
    finally:
        await exporter.close()


async def test_a_busy_port_is_a_clear_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*ASYNCTASQ_METRICS_PORT"):
            await MetricsExporter().start(port, addr="127.0.0.1")
