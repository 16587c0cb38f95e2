"""The PostgreSQL settle statement that releases a fan-out, timed alone by the server.

    python -m benchmarks.release_statement --parents 100 --children 100 --runs 3

Enqueues ``--parents`` jobs with ``--children`` children each, claims the parents,
then runs the settle of their completions (a claim for the reporting worker asked, as
``settle_and_claim`` asks it) under EXPLAIN ANALYZE, rolled back; prints its execution
time. With ``--plan`` it prints the whole plan of the last run (where the time goes);
with ``--bound N`` the statement is bounded as the worker sends it (``release_bound``:
it releases the first parents' children up to N, and leaves the other parents).
Each run uses a fresh schema.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.postgres.batches import settle_args
from asynctasq.drivers.postgres.driver import PostgresDriver
from asynctasq.jobs import Completed
from benchmarks.brokers import bench_config, cleanup
from benchmarks.tasks import NoOp

QUEUE = "bench-release"
WORKER = "bench-worker"


async def explain_release(parents: int, children: int, bound: int | None) -> list[str]:
    """The EXPLAIN ANALYZE lines of one settle releasing the DAG's children."""
    config = bench_config("postgres")
    driver = DriverFactory.create_from_config(config)
    assert isinstance(driver, PostgresDriver)
    await driver.connect()
    try:
        dispatcher = Dispatcher(driver, config)
        ids = await dispatcher.dispatch_many([NoOp().on_queue(QUEUE) for _ in range(parents)])
        layer = [
            NoOp().on_queue(QUEUE).with_options(depends_on=[parent])
            for parent in ids
            for _ in range(children)
        ]
        for i in range(0, len(layer), 5000):
            await dispatcher.dispatch_many(layer[i : i + 5000])
        jobs = await driver.claim([QUEUE], limit=parents, worker_id=WORKER, lease_seconds=60)
        done = [Completed(j.id, WORKER, j.attempts, queue=QUEUE) for j in jobs]
        now = time.time()
        claim = ([QUEUE], 100, WORKER, now + 60)

        async with driver._db.pool.acquire() as con:
            rolled_back = con.transaction()
            await rolled_back.start()
            try:
                name, extra = ("settle", ()) if bound is None else ("settle_bounded", (bound,))
                sql = "EXPLAIN (ANALYZE, BUFFERS) " + driver.sql[name]
                args = settle_args(done, driver.keep_completed)
                rows = await con.fetch(sql, *args, now, *claim, *extra)
            finally:
                await rolled_back.rollback()
        return [row[0] for row in rows]
    finally:
        await driver.disconnect()
        cleanup(config)


def execution_ms(plan: list[str]) -> float:
    [line] = [line for line in plan if line.startswith("Execution Time:")]
    return float(line.split()[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parents", type=int, default=100)
    parser.add_argument("--children", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plan", action="store_true")
    parser.add_argument("--bound", type=int, default=None)
    args = parser.parse_args()
    times, plan = [], []
    for _ in range(args.runs):
        plan = asyncio.run(explain_release(args.parents, args.children, args.bound))
        times.append(execution_ms(plan))
    if args.plan:
        print("\n".join(plan))
    median = statistics.median(times)
    print(f"settle releasing {args.parents} x {args.children}: median {median:.1f} ms")
    print("  runs: " + ", ".join(f"{t:.1f}" for t in times))


if __name__ == "__main__":
    main()
