"""The worker for Tortoise: Tortoise.init() first, in the task that then runs the
worker (jobs inherit Tortoise's context from it). python worker.py [--burst]"""

from __future__ import annotations

import asyncio
import sys

import db
import tasks  # noqa: F401  (registers the tasks)
from tortoise import Tortoise

from asynctasq import Worker


async def main(burst: bool) -> None:
    await db.init()
    try:
        await Worker(queues=["default"], concurrency=1, burst=burst).start()
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main(burst="--burst" in sys.argv))
