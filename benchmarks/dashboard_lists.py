"""The dashboard's dead-letter and flows pages on a big broker: server-side render
time with ``--failed`` failed jobs (four tasks, three error types) and ``--flows``
flows of three jobs.

    python -m benchmarks.dashboard_lists --driver postgres --failed 1000000 --flows 10000

The failed jobs go through the driver's core (enqueue, claim, settle: no worker);
the flows through FlowProducer. The pages are asked of ``create_app`` in process
(as benchmarks/dashboard.py): "first" is a fresh app's first request, "warm" the
median of the next ten. The dead-letter page must count every failed job where the
broker aggregates (SQL); the figures say what that costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver
from asynctasq.flow import FlowProducer, Job
from asynctasq.jobs import Failed
from benchmarks.brokers import bench_config, cleanup, finish_jobs
from benchmarks.dashboard import timings

QUEUE = "dead"
TASKS = ("app.Ship", "app.Bill", "app.Mail", "app.Sync")
ERRORS = ("ValueError: bad order", "TimeoutError: slow", "KeyError: 'sku'")


async def fill(driver: Driver, failed: int, flows: int) -> None:
    started = time.perf_counter()
    share = failed // len(TASKS)
    for i, task in enumerate(TASKS):
        count = share if i < len(TASKS) - 1 else failed - share * (len(TASKS) - 1)
        await finish_jobs(
            driver, QUEUE, count, task,
            lambda j: Failed(j.id, "bench", j.attempts, QUEUE,
                             error=ERRORS[hash(j.id) % len(ERRORS)] + "\nTraceback ..."),
        )  # fmt: skip
    print(f"filled {failed:,} failed jobs in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    producer = FlowProducer(backend=driver)
    for n in range(flows):
        a = Job(task_id="app.Fetch", name=f"fetch-{n}")
        b = Job(task_id="app.Parse", depends_on=[a.id], name="parse")
        c = Job(task_id="app.Store", depends_on=[b.id], name="store")
        await producer.add_flow("flows", [a, b, c])
    print(f"added {flows:,} flows in {time.perf_counter() - started:.0f} s")


async def measure(config: Config, failed: int, flows: int) -> dict[str, tuple[float, float]]:
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    try:
        await fill(driver, failed, flows)
        return {
            "dead letters": await timings(driver, "/dead-letters"),
            "flows": await timings(driver, "/flows"),
        }
    finally:
        await driver.disconnect()
        cleanup(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--driver", default="redis", choices=("redis", "postgres", "mysql", "sqlite")
    )
    parser.add_argument("--failed", type=int, default=1_000_000)
    parser.add_argument("--flows", type=int, default=10_000)
    args = parser.parse_args()
    config = bench_config(args.driver).replace(keep_completed_tasks=True)
    figures = asyncio.run(measure(config, args.failed, args.flows))
    print(
        f"python -m benchmarks.dashboard_lists --driver {args.driver} --failed {args.failed} "
        f"--flows {args.flows}"
    )
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    for name, (first, warm) in figures.items():
        print(f"{name}: first {first:.1f} ms, warm median {warm:.1f} ms")


if __name__ == "__main__":
    main()
