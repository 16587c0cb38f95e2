"""What job expiry (``ttl=``) costs: drain throughput of no-op jobs without a ttl,
then with a ttl far longer than the run (checked at every claim, never expiring),
alternating, ``--runs`` times each. The claim compares each job's ``expires_at`` with
the time and the worker checks it again before starting a prefetched job.

    python -m benchmarks.expiry --driver redis --jobs 10000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from benchmarks.brokers import bench_config, cleanup
from benchmarks.throughput import Bench

_LABELS = {None: "no ttl", 3600.0: "ttl=3600 (never due)"}


async def main(driver: str, jobs: int, runs: int) -> None:
    config = bench_config(driver)
    bench = Bench(config, concurrency=100)
    rates: dict[float | None, list[float]] = {ttl: [] for ttl in _LABELS}
    cpu: dict[float | None, list[float]] = {ttl: [] for ttl in _LABELS}
    try:
        for _ in range(runs):
            for ttl in _LABELS:
                rates[ttl].append(await bench.drain(jobs, ttl=ttl))
                cpu[ttl].append(bench.drain_cpu_per_job * 1e6)
    finally:
        cleanup(config)
    print(f"| {driver}: drain, concurrency 100 | median | min | max | unit |")
    print("|---|---:|---:|---:|---|")
    for ttl, found in rates.items():
        print(f"| {_LABELS[ttl]} | {statistics.median(found):,.0f} | "
              f"{min(found):,.0f} | {max(found):,.0f} | jobs/s |")  # fmt: skip
    for ttl, found in cpu.items():
        print(f"| {_LABELS[ttl]}: CPU per job | {statistics.median(found):.1f} | "
              f"{min(found):.1f} | {max(found):.1f} | µs |")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", default="redis", choices=("memory", "redis"))
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.driver, args.jobs, args.runs))
