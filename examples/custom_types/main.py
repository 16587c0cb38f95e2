"""Dispatch a task whose arguments are a value type, a dataclass and a pydantic
model, then run a worker that rebuilds them. Run from this folder: python main.py"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ASYNCTASQ_SQLITE_PATH", str(HERE / "broker.db"))  # the job queue

from hooks import Money  # noqa: E402
from tasks import Address, ChargeCustomer, Customer  # noqa: E402

from asynctasq.serialization import dumps, loads  # noqa: E402


async def dispatch() -> None:
    task = ChargeCustomer(
        customer=Customer(name="Ada", email="ada@example.com", since=dt.date(2019, 5, 1)),
        amount=Money(Decimal("42.50"), "EUR"),
        ship_to=Address(street="1 Rue de la Paix", city="Paris"),
    )
    encoded = dumps(task._args)
    print(f"1. the arguments travel as {len(encoded)} bytes of msgpack")
    assert loads(encoded) == task._args  # each type comes back equal
    await task.dispatch()


def work() -> int:
    print("2. a worker rebuilds them (python -m asynctasq worker --import tasks --burst)")
    command = [sys.executable, "-m", "asynctasq", "worker", "--import", "tasks", "--burst"]
    return subprocess.run([*command, "--log-level", "ERROR"], cwd=HERE, check=False).returncode


def main() -> int:
    for leftover in HERE.glob("broker.db*"):
        leftover.unlink()
    asyncio.run(dispatch())
    return work()


if __name__ == "__main__":
    raise SystemExit(main())
