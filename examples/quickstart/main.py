"""Dispatch a few jobs to the embedded SQLite broker, run a worker until the queues
are empty, then show what happened. Run from this folder: python main.py"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DB = HERE / "quickstart.db"

# settings come from ASYNCTASQ_* variables; the worker subprocess inherits them
os.environ.setdefault("ASYNCTASQ_SQLITE_PATH", str(DB))
os.environ.setdefault("ASYNCTASQ_QUEUES", "default,emails")

from tasks import ChargeCard, HashPassword, ResizeImage, SendWelcomeEmail, send_reminder  # noqa: E402

from asynctasq import DriverFactory, JobState, dispatch_many  # noqa: E402


async def dispatch() -> None:
    print("1. dispatching jobs to", DB.name)
    job_id = await SendWelcomeEmail(to="ada@example.com").dispatch()
    print(f"   SendWelcomeEmail     -> job {job_id}")
    await ResizeImage(path="cat.png", width=640).dispatch()
    await HashPassword(password="correct horse battery staple").dispatch()
    await ChargeCard(order_id=42).dispatch()
    await send_reminder(to="ada@example.com").delay(1.0).dispatch()
    ids = await dispatch_many(SendWelcomeEmail(to=f"user{i}@example.com") for i in range(3))
    print(f"   + {len(ids)} more emails in one round trip; one reminder delayed by 1s")


def work() -> int:
    print("2. running a worker until the queues are empty (--burst)")
    command = [
        sys.executable,
        "-m",
        "asynctasq",
        "worker",
        "--import",
        "tasks",
        "--burst",
        "--log-level",
        "WARNING",
    ]
    return subprocess.run(command, cwd=HERE, check=False).returncode


async def report() -> None:
    print("3. what the broker holds now")
    driver = DriverFactory.create_from_config()
    await driver.connect()
    try:
        for queue in ("default", "emails"):
            s = await driver.get_queue_stats(queue)
            print(f"   {queue:8} pending={s.depth} running={s.processing} failed={s.failed}")
        for job in await driver.list_jobs("default", JobState.FAILED):
            reason = (job.error or "").splitlines()[0]
            print(f"   dead letter: {job.task} after {job.attempts} attempts: {reason}")
    finally:
        await driver.disconnect()


def main() -> int:
    for leftover in HERE.glob("quickstart.db*"):
        leftover.unlink()
    asyncio.run(dispatch())
    code = work()
    asyncio.run(report())
    print("done: the worker exited with code", code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
