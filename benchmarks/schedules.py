"""What registered schedules cost a worker when none is due: drain throughput of
no-op jobs with 0 schedules, then with ``--schedules`` of them (yearly crons, never
due during the run), alternating, ``--runs`` times each. The embedded scheduler
reads the schedules once a second; the target is no measurable difference.

    python -m benchmarks.schedules --driver redis --jobs 20000 --runs 3

``make bench`` (``python -m benchmarks``) measures the same pair on Redis among
asynctasq's own figures (benchmarks/suite/extras.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from asynctasq.core.scheduling import register
from asynctasq.schedules import Schedule
from benchmarks.brokers import bench_config, cleanup
from benchmarks.throughput import Bench


async def _drain(bench: Bench, jobs: int, schedules: int) -> tuple[float, float]:
    """Jobs/s, and CPU microseconds of the process per job (steadier on a busy host)."""
    driver = await bench.driver()
    yearly = [
        Schedule(id=f"yearly-{i}", task="bench.noop", payload=b"", queue=bench.queue,
                 cron="0 0 1 1 *")
        for i in range(schedules)
    ]  # fmt: skip
    await register(driver, yearly, time.time())
    try:
        rate = await bench.drain(jobs)
        return rate, bench.drain_cpu_per_job * 1e6
    finally:
        for schedule in yearly:
            await driver.remove_schedule(schedule.id)  # type: ignore[attr-defined]
        await driver.disconnect()


async def pair(bench: Bench, jobs: int, schedules: int) -> dict[str, float]:
    """One drain with no schedule, then one with ``schedules`` registered: jobs/s and
    CPU µs per job of each (``make bench`` runs this, benchmarks/suite/extras.py)."""
    rate, cpu = await _drain(bench, jobs, 0)
    idle_rate, idle_cpu = await _drain(bench, jobs, schedules)
    return {
        "schedules_none": rate,
        "schedules_idle": idle_rate,
        "schedules_none_cpu": cpu,
        "schedules_idle_cpu": idle_cpu,
    }


async def main(driver: str, jobs: int, runs: int, schedules: int) -> None:
    config = bench_config(driver)
    bench = Bench(config, concurrency=100)
    rates: dict[int, list[float]] = {0: [], schedules: []}
    cpu: dict[int, list[float]] = {0: [], schedules: []}
    try:
        for _ in range(runs):
            for count in rates:
                rate, micros = await _drain(bench, jobs, count)
                rates[count].append(rate)
                cpu[count].append(micros)
    finally:
        cleanup(config)
    print(f"| {driver}: drain, concurrency 100 | median | min | max | unit |")
    print("|---|---:|---:|---:|---|")
    for count, found in rates.items():
        print(f"| {count} schedules registered | {statistics.median(found):,.0f} | "
              f"{min(found):,.0f} | {max(found):,.0f} | jobs/s |")  # fmt: skip
    for count, found in cpu.items():
        print(f"| {count} schedules: CPU per job | {statistics.median(found):.1f} | "
              f"{min(found):.1f} | {max(found):.1f} | µs |")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", default="redis", choices=("memory", "redis"))
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--schedules", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.driver, args.jobs, args.runs, args.schedules))
