"""Pass Django models to tasks: dispatch, change the rows, run a worker, and see
that the task got the rows as they were when it ran. Run from this folder:
python main.py"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ASYNCTASQ_SQLITE_PATH", str(HERE / "broker.db"))  # the job queue

from django.core.management import call_command  # noqa: E402
from tasks import Customer, Order, Remind, ShipOrder  # noqa: E402  (sets Django up)


async def dispatch() -> None:
    ada = await Customer.objects.acreate(name="Ada", email="ada@old.example")
    grace = await Customer.objects.acreate(name="Grace", email="grace@example.com")
    order = await Order.objects.acreate(customer=ada, total=Decimal("99.90"))

    print("1. dispatching: each model travels as (app_label.Model, primary key)")
    await ShipOrder(order=order).dispatch()
    await Remind(customers=[ada, grace]).dispatch()

    print("2. after dispatch: the order is paid, Ada's email changes, Grace is deleted")
    await Order.objects.filter(pk=order.pk).aupdate(status="paid")
    await Customer.objects.filter(pk=ada.pk).aupdate(email="ada@new.example")
    await grace.adelete()


def work() -> int:
    print("3. a worker runs the jobs (python -m asynctasq worker --import tasks --burst)")
    command = [sys.executable, "-m", "asynctasq", "worker", "--import", "tasks", "--burst"]
    quiet = ["--concurrency", "1", "--log-level", "ERROR"]  # one job at a time: tidy output
    return subprocess.run([*command, *quiet], cwd=HERE, check=False).returncode


def main() -> int:
    for leftover in [*HERE.glob("broker.db*"), *HERE.glob("shop.db*")]:
        leftover.unlink()
    call_command("migrate", run_syncdb=True, verbosity=0)  # the shop tables
    asyncio.run(dispatch())
    return work()


if __name__ == "__main__":
    raise SystemExit(main())
