"""A worker's memory: idle, and after 10,000, 100,000 and 1,000,000 no-op jobs.

    python -m benchmarks.memory --driver redis --jobs 1000000
    python -m benchmarks.memory --driver memory --jobs 1000000

With a broker other processes reach, the worker is ``python -m asynctasq worker
--queues q`` in a subprocess (its defaults, nothing else) and the figure is that
process's resident set (VmRSS). With the memory broker, the worker runs in this
process and the figure is this process's (the broker holds at most two batches of
2,000 jobs). Jobs are fed in batches so the queue never holds more than two: what
grows would be the worker's, not the queue's. The run fails (exit 1) when the RSS after
the last count is more than 10% above the RSS after 10,000 jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from benchmarks.brokers import bench_config, cleanup, config_env
from benchmarks.tasks import NoOp

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "memory"
BATCH = 10_000
IN_PROCESS_BATCH = 2_000  # the broker's queue counts too: keep it small
#: the RSS after the last count may exceed the RSS after 10,000 jobs by this much
BOUND = 0.10


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Feeder:
    """Keeps the queue fed, ``batch`` jobs at a time, until ``total`` were sent."""

    def __init__(self, driver: Driver, config: Config, total: int, batch: int) -> None:
        self.driver = driver
        self.batch = batch
        self.dispatcher = Dispatcher(driver, config)
        self.total = total
        self.sent = 0

    async def backlog(self) -> int:
        assert isinstance(self.driver, Inspection)
        stats = await self.driver.stats(QUEUE)
        return stats.depth + stats.processing

    async def done(self) -> int:
        """Jobs finished so far; sends another batch when the queue runs low."""
        backlog = await self.backlog()
        if backlog < self.batch and self.sent < self.total:
            count = min(self.batch, self.total - self.sent)
            await self.dispatcher.dispatch_many(NoOp().on_queue(QUEUE) for _ in range(count))
            self.sent += count
        return self.sent - backlog


async def measure(
    args: argparse.Namespace, config: Config | None = None
) -> list[tuple[str, float]]:
    """(what, MiB) at each count; ``config``: the broker's settings (default: from the
    ASYNCTASQ_* variables, on a namespace of its own)."""
    config = config or bench_config(args.driver)
    marks = sorted({n for n in (10_000, 100_000, args.jobs) if n <= args.jobs})
    figures: list[tuple[str, float]] = []
    in_process = args.driver == "memory"
    if in_process:
        broker = MemoryBroker()
        driver: Driver = MemoryDriver(broker=broker)
        worker_driver = MemoryDriver(broker=broker)
    else:
        driver = DriverFactory.create_from_config(config)
    await driver.connect()
    await driver.migrate()
    feeder = Feeder(driver, config, args.jobs, IN_PROCESS_BATCH if in_process else BATCH)
    process: subprocess.Popen[bytes] | None = None
    running: asyncio.Task[None] | None = None
    try:
        if in_process:
            worker = Worker(worker_driver, [QUEUE], config=config, handle_signals=False)
            running = asyncio.create_task(worker.start())
            pid = os.getpid()
        else:
            env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
            env.update(config_env(config))
            env.pop("ASYNCTASQ_QUEUES", None)
            command = [sys.executable, "-m", "asynctasq", "worker", "--queues", QUEUE,
                       "--import", "benchmarks.tasks", "--log-level", "WARNING"]  # fmt: skip
            process = subprocess.Popen(command, cwd=ROOT, env=env)
            pid = process.pid
        await asyncio.sleep(args.idle)
        gc.collect()
        figures.append(("idle, after start-up", rss_mib(pid)))
        started = time.monotonic()
        for mark in marks:
            while await feeder.done() < mark:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"the worker exited with {process.returncode}")
                await asyncio.sleep(0.05)
            if in_process:
                gc.collect()
            figures.append((f"after {mark:,} jobs", rss_mib(pid)))
            print(f"  {mark:,} jobs in {time.monotonic() - started:.0f}s", file=sys.stderr)
    finally:
        if running is not None:
            worker.stop()
            await running
        if process is not None:
            process.terminate()
            process.wait(30)
        await driver.disconnect()
        cleanup(config)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--driver", default="redis")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle after start")
    args = parser.parse_args()
    figures = asyncio.run(measure(args))
    where = "this process (worker and broker)" if args.driver == "memory" else "the worker process"
    print(f"`python -m benchmarks.memory {' '.join(sys.argv[1:])}`\n")
    print(
        f"{os.cpu_count()} cores, Python {platform.python_version()}; VmRSS of {where}, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print(f"| {args.driver} worker RSS | MiB |\n|---|---:|")
    for name, mib in figures:
        print(f"| {name} | {mib:.1f} |")
    base = dict(figures).get("after 10,000 jobs")
    last = figures[-1][1]
    if base is not None and last > base * (1 + BOUND):
        print(f"\nRSS grew {100 * (last / base - 1):.1f}% after 10,000 jobs: over {BOUND:.0%}")
        return 1
    if base is not None:
        print(f"\nGrowth from 10,000 jobs to the last count: {100 * (last / base - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
