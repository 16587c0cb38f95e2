"""Enqueue, drain and latency of no-op jobs with one worker process, on one driver.

    python -m benchmarks.throughput --driver sqlite --jobs 20000 --runs 3

Each scenario runs ``--runs`` times; the table shows the median with min and max.
The broker's settings come from ASYNCTASQ_* variables (an isolated namespace is
added: a temporary SQLite file, a Redis key prefix, a PostgreSQL schema).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.events.emitters import EventEmitter
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Management
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from benchmarks.brokers import bench_config, cleanup, clear_queue, config_env
from benchmarks.tasks import LatencyProbe, NoOp, countdown

ROOT = Path(__file__).resolve().parent.parent
#: seconds each job of the --delayed scenario waits before it is due
DELAY = 0.2


@dataclass
class Figure:
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)

    def row(self) -> str:
        med, low, high = statistics.median(self.samples), min(self.samples), max(self.samples)
        return f"| {self.name} | {med:,.1f} | {low:,.1f} | {high:,.1f} | {self.unit} |"


class Bench:
    def __init__(self, config: Config, concurrency: int) -> None:
        self.config = config
        self.concurrency = concurrency
        self.memory = MemoryBroker() if config.driver == "memory" else None
        self.queue = "bench"
        #: seconds the worker sits idle before each latency probe (polling drivers
        #: back off while idle: a longer gap shows their worst case)
        self.idle_gap = 0.002

    async def driver(self) -> Driver:
        if self.memory is not None:
            driver: Driver = MemoryDriver(broker=self.memory)
        else:
            driver = DriverFactory.create_from_config(self.config)
        await driver.connect()
        return driver

    async def clear(self, driver: Driver) -> None:
        from asynctasq.jobs import JobState

        if not isinstance(driver, Management):  # no purge(): the broker's own way
            await clear_queue(self.config, self.queue)
            return
        for state in (JobState.PENDING, JobState.SCHEDULED, JobState.FAILED, JobState.COMPLETED):
            await driver.purge(self.queue, state)

    async def enqueue_one_by_one(self, n: int) -> float:
        driver = await self.driver()
        dispatcher = Dispatcher(driver, self.config)
        started = time.perf_counter()
        for _ in range(n):
            await dispatcher.dispatch(NoOp().on_queue(self.queue))
        elapsed = time.perf_counter() - started
        await self.clear(driver)
        await driver.disconnect()
        return n / elapsed

    async def enqueue_bulk(self, n: int, chunk: int = 5000) -> float:
        driver = await self.driver()
        dispatcher = Dispatcher(driver, self.config)
        tasks = [NoOp().on_queue(self.queue) for _ in range(n)]
        started = time.perf_counter()
        for i in range(0, n, chunk):
            await dispatcher.dispatch_many(tasks[i : i + chunk])
        elapsed = time.perf_counter() - started
        await self.clear(driver)
        await driver.disconnect()
        return n / elapsed

    async def drain(
        self,
        n: int,
        event_emitter: EventEmitter | None = None,
        *,
        ttl: float | None = None,
        task: type[NoOp] = NoOp,
    ) -> float:
        """``ttl``: every job gets one (benchmarks/expiry.py: what checking it costs);
        ``task``: a NoOp subclass (benchmarks/rate_limits.py: a rate-limited one)."""
        producer = await self.driver()
        dispatcher = Dispatcher(producer, self.config)
        for i in range(0, n, 5000):
            await dispatcher.dispatch_many(
                task().on_queue(self.queue).with_options(ttl=ttl) for _ in range(min(5000, n - i))
            )
        consumer = await self.driver()
        worker = Worker(
            consumer,
            [self.queue],
            config=self.config,
            concurrency=self.concurrency,
            handle_signals=False,
            event_emitter=event_emitter,
        )
        finished = countdown.arm(n)
        started, cpu = time.perf_counter(), time.process_time()
        running = asyncio.create_task(worker.start())
        await finished.wait()
        while len(worker._outcomes):  # every outcome reported to the broker
            await asyncio.sleep(0.0005)
        elapsed = time.perf_counter() - started
        #: CPU seconds of this process per job drained (steadier than jobs/s on a busy host)
        self.drain_cpu_per_job = (time.process_time() - cpu) / n
        worker.stop()
        await running
        await self.clear(producer)
        for driver in (producer, consumer):
            await driver.disconnect()
        return n / elapsed

    async def latency(self, n: int, delay: float = 0.0) -> list[float]:
        """Enqueue-to-start in ms for ``n`` sequential jobs, worker in another process;
        with ``delay``, jobs run that many seconds later and the figure is how late
        they start after their run_at."""
        log = Path(tempfile.mkdtemp()) / "latency.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
        env.update(config_env(self.config))
        command = [sys.executable, "-m", "asynctasq", "worker", "--queues", self.queue,
                   "--import", "benchmarks.tasks", "--log-level", "WARNING"]  # fmt: skip
        worker = subprocess.Popen(command, cwd=ROOT, env=env)
        driver = await self.driver()
        dispatcher = Dispatcher(driver, self.config)
        try:
            await dispatcher.dispatch(
                LatencyProbe(sent=time.time(), log=str(log)).on_queue(self.queue)
            )
            await _wait_lines(log, 1, 60)  # the worker is up
            await asyncio.sleep(0.5)
            log.unlink()
            for i in range(n):
                probe = LatencyProbe(sent=time.time() + delay, log=str(log)).on_queue(self.queue)
                await dispatcher.dispatch(probe.delay(delay) if delay else probe)
                await _wait_lines(log, i + 1, 30)
                await asyncio.sleep(self.idle_gap)  # idle between jobs: the idle latency
            return [int(x) / 1000 for x in log.read_text().split()]
        finally:
            worker.terminate()
            worker.wait(30)
            await self.clear(driver)
            await driver.disconnect()


async def _wait_lines(path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        await asyncio.sleep(0.0005)
    raise TimeoutError(f"the worker did not run job {count} within {timeout}s")


async def _percentiles(
    name: str, runs: int, sample: Callable[[], Awaitable[list[float]]]
) -> list[Figure]:
    """p50, p95 and p99 of ``sample()`` (ms), one of each per run."""
    figures = [Figure(f"{name} p{q}", "ms") for q in (50, 95, 99)]
    for _ in range(runs):
        samples = await sample()
        for figure, q in zip(figures, (50, 95, 99), strict=True):
            figure.samples.append(percentile(samples, q))
        print(f"  {name} p50 {figures[0].samples[-1]:.2f} ms p99 "
              f"{figures[2].samples[-1]:.2f} ms", file=sys.stderr)  # fmt: skip
    return figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def run(args: argparse.Namespace) -> str:
    config = bench_config(args.driver).replace(prefetch=args.prefetch)
    bench = Bench(config, args.concurrency)
    bench.idle_gap = args.idle_gap
    figures = [
        Figure("enqueue, one by one", "jobs/s"),
        Figure(f"enqueue, bulk ({min(args.jobs, 5000)} per call)", "jobs/s"),
        Figure(
            f"drain, one worker process, concurrency {args.concurrency}"
            + (f", prefetch {args.prefetch}" if args.prefetch else ""),
            "jobs/s",
        ),
    ]
    scenarios: list[Callable[[], Awaitable[float]]] = [
        lambda: bench.enqueue_one_by_one(args.single_jobs),
        lambda: bench.enqueue_bulk(args.jobs),
        lambda: bench.drain(args.jobs),
    ]
    try:
        for _ in range(args.runs):
            for figure, scenario in zip(figures, scenarios, strict=True):
                figure.samples.append(await scenario())
                print(f"  {figure.name}: {figure.samples[-1]:,.0f} {figure.unit}", file=sys.stderr)
        if args.latency and args.driver != "memory":
            gap = "" if args.idle_gap == 0.002 else f" after {args.idle_gap:g}s idle"
            figures += await _percentiles(
                f"idle latency{gap}", args.runs, lambda: bench.latency(args.latency)
            )
        if args.delayed and args.driver != "memory":
            figures += await _percentiles(
                f"delayed job ({DELAY}s) start after its run_at",
                args.runs,
                lambda: bench.latency(args.delayed, delay=DELAY),
            )
    finally:
        cleanup(config)
    header = [
        f"`{' '.join(['python -m benchmarks.throughput', *sys.argv[1:]])}`",
        "",
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}; median of {args.runs} runs (min, max)",
        "",
        f"| {args.driver} | median | min | max | unit |",
        "|---|---:|---:|---:|---|",
    ]
    return "\n".join(header + [f.row() for f in figures])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--driver", default="sqlite")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per bulk and drain run")
    parser.add_argument("--single-jobs", type=int, default=5_000, help="jobs per one-by-one run")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--prefetch", type=int, default=None, help="jobs claimed ahead (default: adapts)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--latency", type=int, default=500, help="sequential jobs for idle latency (0: skip)"
    )
    parser.add_argument(
        "--idle-gap",
        type=float,
        default=0.002,
        help="seconds the worker is idle before each latency job",
    )
    parser.add_argument(
        "--delayed",
        type=int,
        default=0,
        help=f"sequential jobs delayed {DELAY}s, to measure how late they start (0: skip)",
    )
    args = parser.parse_args()
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
