"""The dashboard on a big queue: server-side render time of the queue page and the
overview with ``--jobs`` completed (or, ``--state pending``, waiting) jobs kept in
the broker.

    python -m benchmarks.dashboard --driver redis --jobs 1000000
    python -m benchmarks.dashboard --driver postgres --jobs 1000000
    python -m benchmarks.dashboard --driver postgres --jobs 1000000 --state pending

The jobs are completed through the driver's core (enqueue, claim, settle, in
batches of 5,000: no worker needed) with ``keep_completed_tasks`` on; pending ones
are only enqueued, with priorities 0 to 3 in turn (claim order mixes them). Then the
pages are asked of ``create_app`` in process (httpx's ASGI transport: no socket,
no browser), so the figures are the dashboard's own work plus the broker's
queries. "first" is the first request of a fresh app; "warm" the median of the
next ten. Targets (issue 22): queue page < 300 ms, overview < 100 ms.

``--keep`` leaves the filled namespace (Redis prefix, PostgreSQL schema) in place and
prints it; ``--reuse NAME`` times the pages on that namespace without filling it
again (profiling a change without a refill), then drops it unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from urllib.parse import urlsplit, urlunsplit

import httpx

from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.dashboard import create_app
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Completed, Job, JobState
from asynctasq.operations import JobFilter, list_jobs
from asynctasq.operations.scan import decode_any, encode_cursor, encode_position, stamp
from asynctasq.serialization.payload import encode_payload
from benchmarks.brokers import CHUNK, bench_config, cleanup, finish_jobs

QUEUE = "done"
WARM = 10
PAGES = {
    "queue page": f"/queues/{QUEUE}",
    "overview": "/",
    # beyond the targets: one state, either end; a page deep in the listing (the
    # cursor is an offset: the broker walks to it); a search that matches nothing, so
    # it reads its whole budget (5,000 jobs) before answering; the dead letters
    "queue page, completed": f"/queues/{QUEUE}?state=completed",
    "queue page, completed, oldest first": f"/queues/{QUEUE}?state=completed&order=reverse",
    # (its cursor: the position of the 500,000th job, found before the timing)
    "queue page, completed, at job 500,000": f"/queues/{QUEUE}?state=completed&cursor=",
    "queue page, search": f"/queues/{QUEUE}?q=no-such-text",
    "dead letters": "/dead-letters",
}
#: the dashboard's page size (asynctasq/dashboard/pages.py)
PAGE_SIZE = 50
#: with --state pending: each waiting listing's first page, either end, a page deep
#: in it (its cursor found before the timing: a position where the broker has them,
#: else the offset), and the listing of every state deep in its pending jobs
PENDING_PAGES: dict[str, str | tuple[str, int]] = {
    "queue page": f"/queues/{QUEUE}",
    "overview": "/",
    "queue page, pending": f"/queues/{QUEUE}?state=pending",
    "queue page, pending, last first": f"/queues/{QUEUE}?state=pending&order=reverse",
    "queue page, pending, page 500": (f"/queues/{QUEUE}?state=pending", 499 * PAGE_SIZE),
    "queue page, pending, at job 500,000": (f"/queues/{QUEUE}?state=pending", 500_000),
    "queue page, any state, page 500": (f"/queues/{QUEUE}?", 499 * PAGE_SIZE),
    "queue page, search": f"/queues/{QUEUE}?q=no-such-text",
}


async def complete(driver: Driver, jobs: int) -> None:
    await finish_jobs(
        driver, QUEUE, jobs, "app.Ship", lambda j: Completed(j.id, "bench", j.attempts, QUEUE)
    )


async def enqueue_pending(driver: Driver, jobs: int) -> None:
    payload = encode_payload({"order": 1})
    for start in range(0, jobs, CHUNK):
        size = min(CHUNK, jobs - start)
        batch = [
            Job(task="app.Ship", payload=payload, queue=QUEUE, priority=(start + i) % 4)
            for i in range(size)
        ]
        await driver.enqueue(batch)


async def deep_cursor(driver: Driver, where: JobFilter, depth: int) -> str:
    """The cursor of the page after the first ``depth`` jobs of the listing: an
    offset where the listing pages by offset, else the position read there (walked
    10,000 jobs at a time)."""
    cursor: str | None = None
    read = 0
    while read < depth:
        step = min(10_000, depth - read)
        page = await list_jobs(driver, where, limit=step, cursor=cursor)
        assert page.next_cursor is not None
        assert len(page.jobs) == step
        if isinstance(decode_any(page.next_cursor), int):
            return encode_cursor(depth)  # by offset: no need to walk there
        cursor, read = page.next_cursor, read + step
    assert cursor is not None
    return cursor


async def pending_pages(driver: Driver, jobs: int) -> dict[str, str]:
    """The pages to time (a page deeper than the queue left out)."""
    pages = {}
    for name, page in PENDING_PAGES.items():
        if isinstance(page, str):
            pages[name] = page
            continue
        url, depth = page
        if depth >= jobs:
            continue
        state = JobState.PENDING if "state=pending" in url else None
        cursor = await deep_cursor(driver, JobFilter(QUEUE, state), depth)
        pages[name] = f"{url}&cursor={cursor}"
    return pages


async def timings(driver: Driver, url: str) -> tuple[float, float]:
    """(first, warm median) milliseconds of GET ``url`` on a fresh app."""
    app = create_app(driver=driver)
    transport = httpx.ASGITransport(app=app)
    spent = []
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as http:
        for _ in range(WARM + 1):
            started = time.perf_counter()
            answer = await http.get(url)
            spent.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
    return spent[0], statistics.median(spent[1:])


async def measure(
    config: Config, jobs: int, *, fill: bool, keep: bool, analyze: bool, pending: bool = False
) -> dict[str, tuple[float, float]]:
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    try:
        assert isinstance(driver, Inspection)
        if pending:
            if fill:
                started = time.perf_counter()
                await enqueue_pending(driver, jobs)
                print(f"filled {jobs:,} pending jobs in {time.perf_counter() - started:.0f} s")
            assert (await driver.stats(QUEUE)).depth == jobs
            if analyze:
                await analyzed(config)
            urls = await pending_pages(driver, jobs)
            return {name: await timings(driver, url) for name, url in urls.items()}
        if fill:
            started = time.perf_counter()
            await complete(driver, jobs)
            print(f"filled {jobs:,} completed jobs in {time.perf_counter() - started:.0f} s")
        assert (await driver.stats(QUEUE)).completed == jobs
        if analyze:
            await analyzed(config)
        # a position where the broker reads by position (SQL), else the offset (Redis
        # reads a sorted set by rank: as fast)
        cursor = encode_cursor(500_000)
        if await driver.list_finished_from(QUEUE, JobState.COMPLETED, after=None, limit=1):
            deep = await list_jobs(
                driver, JobFilter(QUEUE, JobState.COMPLETED), limit=1, cursor=encode_cursor(499_999)
            )
            cursor = encode_position(stamp(deep.jobs[0]), deep.jobs[0].id)
        pages = {n: url + cursor if url.endswith("cursor=") else url for n, url in PAGES.items()}
        return {name: await timings(driver, url) for name, url in pages.items()}
    finally:
        await driver.disconnect()
        if keep:
            print(f"kept: --reuse {namespace(config)}")
        else:
            cleanup(config)


async def analyzed(config: Config) -> None:
    """ANALYZE the jobs table, as autovacuum does once a table has changed enough
    (the test server here runs with autovacuum off: without it the planner still
    believes the table empty)."""
    if config.driver != "postgres":
        return
    import asyncpg

    con = await asyncpg.connect(config.postgres_dsn)
    try:
        await con.execute(f'ANALYZE "{config.postgres_schema}".jobs')
    finally:
        await con.close()
    print("analyzed the jobs table")


def namespace(config: Config) -> str:
    if config.driver == "mysql":
        return urlsplit(config.mysql_dsn).path.lstrip("/")
    return {"redis": config.redis_prefix, "sqlite": config.sqlite_path}.get(
        config.driver, config.postgres_schema
    )


def reused(config: Config, name: str) -> Config:
    if config.driver == "redis":
        return config.replace(redis_prefix=name)
    if config.driver == "postgres":
        return config.replace(postgres_schema=name)
    if config.driver == "sqlite":
        return config.replace(sqlite_path=name)
    if config.driver == "mysql":
        cleanup(config)  # the empty database bench_config made for this run
        dsn = urlunsplit(urlsplit(config.mysql_dsn)._replace(path=f"/{name}"))
        return config.replace(mysql_dsn=dsn)
    raise SystemExit(
        "--reuse: a Redis prefix, a PostgreSQL schema, a MySQL database or a SQLite file"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--driver", default="redis", choices=("redis", "postgres", "mysql", "sqlite")
    )
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument(
        "--state", default="completed", choices=("completed", "pending"),
        help="the state the jobs are kept in (pending: enqueued, never claimed)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="leave the filled namespace")
    parser.add_argument("--reuse", metavar="NAME", help="time a namespace kept by --keep")
    parser.add_argument(
        "--analyze", action="store_true",
        help="PostgreSQL: ANALYZE the jobs table after the fill (as autovacuum would)",
    )  # fmt: skip
    args = parser.parse_args()
    config = bench_config(args.driver).replace(keep_completed_tasks=True)
    if args.reuse:
        config = reused(config, args.reuse)
    pending = args.state == "pending"
    figures = asyncio.run(
        measure(
            config,
            args.jobs,
            fill=not args.reuse,
            keep=args.keep,
            analyze=args.analyze,
            pending=pending,
        )
    )
    flags = " --analyze" * args.analyze + (f" --reuse {args.reuse}" if args.reuse else "")
    flags += " --state pending" * pending
    print(f"python -m benchmarks.dashboard --driver {args.driver} --jobs {args.jobs}{flags}")
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    for name, (first, warm) in figures.items():
        print(f"{name}: first {first:.1f} ms, warm median {warm:.1f} ms")


if __name__ == "__main__":
    main()
