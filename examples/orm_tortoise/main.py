"""Pass Tortoise models to tasks: dispatch, change the rows, run a worker, and see
that the task got the rows as they were when it ran. Run from this folder:
python main.py"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ASYNCTASQ_SQLITE_PATH", str(HERE / "broker.db"))  # the job queue
os.environ.setdefault("ASYNCTASQ_LOG_LEVEL", "ERROR")

import db  # noqa: E402
from models import Match, Player  # noqa: E402
from tasks import AnnounceMatch, CongratulatePlayer  # noqa: E402
from tortoise import Tortoise  # noqa: E402


async def dispatch() -> None:
    await db.init()
    try:
        await Tortoise.generate_schemas()
        ada = await Player.create(id=1, name="Ada", rating=1500)
        alan = await Player.create(id=2, name="Alan", rating=1490)
        grace = await Player.create(id=3, name="Grace", rating=1480)
        match = await Match.create(id=uuid.uuid4(), venue="Lyon")

        print("1. dispatching: each model travels as (app.Model, primary key)")
        await AnnounceMatch(match=match, players=[ada, alan]).dispatch()
        await CongratulatePlayer(player=grace).dispatch()

        print("2. after dispatch: the match moves to Nantes, Ada's rating changes, Grace leaves")
        await Match.filter(id=match.id).update(venue="Nantes")
        await Player.filter(id=1).update(rating=1530)
        await grace.delete()
    finally:
        await Tortoise.close_connections()


def work() -> int:
    print("3. a worker runs the jobs (python worker.py --burst)")
    return subprocess.run(
        [sys.executable, "worker.py", "--burst"], cwd=HERE, check=False
    ).returncode


def main() -> int:
    for leftover in [*HERE.glob("broker.db*"), *HERE.glob("shop.db*")]:
        leftover.unlink()
    asyncio.run(dispatch())
    return work()


if __name__ == "__main__":
    raise SystemExit(main())
