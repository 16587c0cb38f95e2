"""The suite's ``drain_default`` step alone: N fresh no-op jobs, then the worker as a
user starts it (``python -m asynctasq worker --queues Q --import benchmarks.peers.ours``,
no other flag), jobs/s from its launch to its last job.

    python -m benchmarks.default_drain --driver redis --runs 3
    python -m benchmarks.default_drain --driver redis --runs 3 --processes 2   # drain_p2

Also printed: when the first job ran, the rate from the first job to the last, and
the worker process's CPU per job (start-up included; steadier than jobs/s on a busy
host). Jobs mark their end in a file, as in the suite (benchmarks/suite/workload.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from benchmarks.brokers import bench_config, cleanup, config_env
from benchmarks.peers.ours import Mark
from benchmarks.suite import workload

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def measure(driver_name: str, jobs: int, processes: int = 1) -> dict[str, float]:
    config = bench_config(driver_name)
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    await driver.migrate()
    queue = f"default-{secrets.token_hex(3)}"
    try:
        dispatcher = Dispatcher(driver, config)
        for i in range(0, jobs, 1000):
            await dispatcher.dispatch_many(
                Mark().on_queue(queue) for _ in range(min(1000, jobs - i))
            )
        marks = Path(tempfile.mkdtemp()) / "marks"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
        env.update(config_env(config))
        env.update({"ASYNCTASQ_PROCESS_POOL_PRESTART": "false", workload.MARKS_ENV: str(marks)})
        command = [sys.executable, "-m", "asynctasq", "worker", "--queues", queue,
                   "--import", "benchmarks.peers.ours"]  # fmt: skip
        if processes > 1:
            command += ["--processes", str(processes)]
        cpu, launched = _children_cpu(), time.time()
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        try:
            while workload.count_marks(str(marks)) < jobs:
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited ({worker.returncode})")
                await asyncio.sleep(0.02)
        finally:
            worker.terminate()
            worker.wait(30)
        stamps = sorted(workload.read_marks(str(marks)))
        return {
            "from launch": jobs / (stamps[-1] - launched),
            "first job (ms)": (stamps[0] - launched) * 1000,
            "first to last": jobs / (stamps[-1] - stamps[0]),
            "worker CPU per job (µs)": (_children_cpu() - cpu) / jobs * 1e6,
        }
    finally:
        await driver.disconnect()
        cleanup(config)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--driver", default="redis")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=1, help="the worker's --processes")
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        runs.append(asyncio.run(measure(args.driver, args.jobs, args.processes)))
        print("  " + ", ".join(f"{k} {v:,.1f}" for k, v in runs[-1].items()), file=sys.stderr)
    print(
        f"{args.driver}, {args.jobs:,} jobs, --processes {args.processes}, median of {args.runs}:"
    )
    for key in runs[0]:
        print(f"  {key}: {statistics.median(r[key] for r in runs):,.1f}")


if __name__ == "__main__":
    main()
