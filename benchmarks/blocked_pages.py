"""A page of blocked jobs on Redis with many of them: 200,000 children of one parent,
then the time of ``list_jobs(BLOCKED)`` (50 jobs, 1,000 deep) and of ``list_from``'s
first page, median of 5.

    python -m benchmarks.blocked_pages   # ASYNCTASQ_REDIS_URL, default localhost
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time

from asynctasq.drivers.redis import RedisDriver
from asynctasq.jobs import JobState
from asynctasq.testing.conformance.contract import make_job

N = 200_000


async def main() -> None:
    d = RedisDriver(
        os.environ.get("ASYNCTASQ_REDIS_URL") or "redis://127.0.0.1:6379/0",
        prefix="bp" + secrets.token_hex(3),
    )
    await d.connect()
    try:
        parent = make_job()
        await d.enqueue([parent])
        for _ in range(0, N, 1000):
            await d.enqueue([make_job(depends_on=[parent.id]) for _ in range(1000)])
        offset_page, first_page = [], []
        for _ in range(5):
            t = time.perf_counter()
            await d.list_jobs("default", JobState.BLOCKED, limit=50, offset=1000)
            offset_page.append((time.perf_counter() - t) * 1000)
        for _ in range(5):
            t = time.perf_counter()
            await d.list_from("default", JobState.BLOCKED, after=None, limit=50)
            first_page.append((time.perf_counter() - t) * 1000)
        print(
            f"{N:,} blocked: list_jobs page p50 {statistics.median(offset_page):.1f} ms; "
            f"list_from first page {statistics.median(first_page):.1f} ms"
        )
    finally:
        async for k in d.client.scan_iter(match=d.keys.pattern, count=1000):
            await d.client.unlink(k)
        await d.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
