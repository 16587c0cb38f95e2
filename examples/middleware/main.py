"""Dispatch two jobs, then run a worker with three middleware of ours around its
jobs. Run from this folder: python main.py"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ASYNCTASQ_SQLITE_PATH", str(HERE / "broker.db"))  # the job queue
os.environ.setdefault("ASYNCTASQ_KEEP_COMPLETED_TASKS", "true")  # to show them at the end

from tasks import Charge, SendNewsletter  # noqa: E402

from asynctasq import DriverFactory, JobState, get_global_config  # noqa: E402
from asynctasq.drivers.capabilities import Inspection, require  # noqa: E402

MIDDLEWARE = "audit:Audit,audit:KillSwitch,audit:ReportErrors"


def work() -> int:
    print(f"2. a worker runs them: --middleware {MIDDLEWARE}", flush=True)
    command = [sys.executable, "-m", "asynctasq", "worker", "--import", "tasks", "--burst",
               "--middleware", MIDDLEWARE, "--log-level", "ERROR"]  # fmt: skip
    env = {**os.environ, "DISABLED_TASKS": SendNewsletter.task_name}
    return subprocess.run(command, cwd=HERE, env=env, check=False).returncode


async def dispatch() -> list[str]:
    ids = [await Charge(order=42).dispatch(), await SendNewsletter().dispatch()]
    print(f"1. dispatched {Charge.task_name} and {SendNewsletter.task_name}")
    return ids


async def report(ids: list[str]) -> None:
    async with DriverFactory.create_from_config(get_global_config()) as driver:
        broker = require(driver, Inspection, "this report")
        for job_id in ids:
            job = await broker.get(job_id)
            assert job is not None
            why = f": {job.error.splitlines()[0]}" if job.state is JobState.FAILED else ""
            print(f"3. {job.task} is {job.state} after {job.attempts} attempt(s){why}")


def main() -> int:
    for leftover in HERE.glob("broker.db*"):
        leftover.unlink()
    ids = asyncio.run(dispatch())
    code = work()
    asyncio.run(report(ids))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
