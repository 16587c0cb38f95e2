"""Pass SQLAlchemy models to tasks: dispatch, change the rows, run a worker, and see
that the task got the rows as they were when it ran. Run from this folder:
python main.py"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ASYNCTASQ_SQLITE_PATH", str(HERE / "broker.db"))  # the job queue

from db import Session, engine  # noqa: E402
from models import Base, Customer, OrderLine  # noqa: E402
from sqlalchemy import delete, select, update  # noqa: E402
from tasks import SendInvoice, SendWelcome  # noqa: E402

from asynctasq import DriverFactory, JobState  # noqa: E402


async def dispatch() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    async with Session() as session:
        session.add_all(
            [
                Customer(id=1, name="Ada", email="ada@old.example"),
                Customer(id=2, name="Grace", email="grace@example.com"),
                OrderLine(order_id=10, line_no=1, item="keyboard", quantity=1),
                OrderLine(order_id=10, line_no=2, item="cable", quantity=2),
            ]
        )
        await session.commit()
        ada, grace = (await session.scalars(select(Customer).order_by(Customer.id))).all()
        lines = list((await session.scalars(select(OrderLine))).all())

        print("1. dispatching: each model travels as (model, primary key)")
        await SendInvoice(customer=ada, lines=lines).dispatch()
        await SendWelcome(customer=grace).dispatch()

        print("2. after dispatch: Ada changes her email, Grace's row is deleted")
        await session.execute(
            update(Customer).where(Customer.id == 1).values(email="ada@new.example")
        )
        await session.execute(delete(Customer).where(Customer.id == 2))
        await session.commit()
    await engine.dispose()


def work() -> int:
    print("3. a worker runs the jobs (python -m asynctasq worker --import tasks --burst)")
    command = [sys.executable, "-m", "asynctasq", "worker", "--import", "tasks", "--burst"]
    quiet = ["--concurrency", "1", "--log-level", "ERROR"]  # one job at a time: tidy output
    return subprocess.run([*command, *quiet], cwd=HERE, check=False).returncode


async def report() -> None:
    driver = DriverFactory.create_from_config()
    await driver.connect()
    try:
        for job in await driver.list_jobs("default", JobState.FAILED):
            print(f"4. dead letter: {job.task}: {(job.error or '').splitlines()[0]}")
    finally:
        await driver.disconnect()


def main() -> int:
    for leftover in [*HERE.glob("broker.db*"), *HERE.glob("shop.db*")]:
        leftover.unlink()
    asyncio.run(dispatch())
    code = work()
    asyncio.run(report())
    return code


if __name__ == "__main__":
    raise SystemExit(main())
