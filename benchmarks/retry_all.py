"""``asynctasq job retry --all`` on a big dead-letter queue, and what a worker sees
meanwhile.

    python -m benchmarks.retry_all --driver redis --jobs 100000
    python -m benchmarks.retry_all --driver postgres --jobs 100000
    python -m benchmarks.retry_all --driver mysql --jobs 100000
    python -m benchmarks.retry_all --driver sqlite --jobs 100000

``--jobs`` jobs are dead-lettered through the driver's core (enqueue, claim, settle
as failed: no worker needed), then the command an operator types runs as a
subprocess and is timed from launch to exit. Meanwhile this process plays a worker
of another queue: every 50 ms it enqueues a job and claims it, and the slowest of
those round trips is reported (a retry that locked the broker would show there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Failed, Job
from asynctasq.serialization.payload import encode_payload
from benchmarks.brokers import bench_config, cleanup, config_env, finish_jobs

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "dead"
PROBE_QUEUE = "probe"


async def dead_letter(driver: Driver, jobs: int) -> None:
    error = "KeyError: 'template'"
    await finish_jobs(
        driver, QUEUE, jobs, "app.Send", lambda j: Failed(j.id, "bench", j.attempts, QUEUE, error)
    )


async def probe(driver: Driver, stop: asyncio.Event) -> float:
    """The slowest enqueue + claim of a job of another queue, every 50 ms until ``stop``."""
    worst = 0.0
    payload = encode_payload({})
    while not stop.is_set():
        started = time.perf_counter()
        await driver.enqueue([Job(task="app.Probe", payload=payload, queue=PROBE_QUEUE)])
        await driver.claim([PROBE_QUEUE], limit=1, worker_id="probe", lease_seconds=60)
        worst = max(worst, time.perf_counter() - started)
        try:
            await asyncio.wait_for(stop.wait(), 0.05)
        except TimeoutError:
            pass
    return worst


async def measure(config: Config, jobs: int) -> dict[str, float]:
    """{"seconds": the command's wall time, "retried": jobs it retried, "worst_probe_ms": ...}."""
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    try:
        await dead_letter(driver, jobs)
        assert isinstance(driver, Inspection)
        assert (await driver.stats(QUEUE)).failed == jobs
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
        env.update(config_env(config))
        command = [sys.executable, "-m", "asynctasq", "job", "retry", "--all",
                   "--queue", QUEUE, "--state", "failed", "--json"]  # fmt: skip
        stop = asyncio.Event()
        prober = asyncio.create_task(probe(driver, stop))
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        out, _ = await process.communicate()
        seconds = time.perf_counter() - started
        stop.set()
        worst = await prober
        if process.returncode != 0:
            raise RuntimeError(f"job retry --all exited {process.returncode}")
        retried = json.loads(out)["done"]
        assert (await driver.stats(QUEUE)).depth == jobs
        return {"seconds": seconds, "retried": retried, "worst_probe_ms": worst * 1000}
    finally:
        await driver.disconnect()
        cleanup(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--driver", default="redis", choices=("redis", "postgres", "mysql", "sqlite")
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    args = parser.parse_args()
    figures = asyncio.run(measure(bench_config(args.driver), args.jobs))
    print(f"python -m benchmarks.retry_all --driver {args.driver} --jobs {args.jobs}")
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    print(
        f"retried {figures['retried']:,.0f} dead-lettered jobs in {figures['seconds']:.1f} s "
        f"({figures['retried'] / figures['seconds']:,.0f} jobs/s); slowest enqueue+claim of "
        f"another queue meanwhile: {figures['worst_probe_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
