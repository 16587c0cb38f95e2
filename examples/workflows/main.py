"""Workflows end to end on SQLite: a FlowProducer DAG, a chain, a group and a chord;
a worker runs them; the results come back. Run from this folder: python main.py"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ASYNCTASQ_SQLITE_PATH", str(HERE / "broker.db"))  # the job queue

from tasks import Fetch, Parse, Square, Store, Total  # noqa: E402

from asynctasq import results  # noqa: E402
from asynctasq.flow import FlowProducer, Job, chain, chord, get_flow, group  # noqa: E402


async def dispatch() -> None:
    # 1. a DAG, stored whole or not at all: ingest -> (a, b) -> aggregate
    ingest = Job(task_id="tasks.Ingest", kwargs={"day": "2026-12-06"}, name="ingest")
    a = Job(task_id="tasks.Transform", kwargs={"factor": 2}, depends_on=[ingest.id], name="a")
    b = Job(task_id="tasks.Transform", kwargs={"factor": 10}, depends_on=[ingest.id], name="b")
    aggregate = Job(task_id="tasks.Aggregate", depends_on=[a.id, b.id])
    await FlowProducer().add_flow("etl", [ingest, a, b, aggregate])
    # 2. canvas: each step of a chain receives the previous step's result
    pipeline = await chain(Fetch(url="example.com"), Parse(), Store()).dispatch()
    squares = await group(Square(n=1), Square(n=2), Square(n=3)).dispatch()
    total = await chord([Square(n=4), Square(n=5)], Total()).dispatch()
    print("1. dispatched a flow, a chain, a group and a chord")
    work()
    print("3. results:")
    print(f"   flow:  {await results.get(aggregate.id, timeout=10)}")
    print(f"   chain: {await pipeline.result(timeout=10)}")
    print(f"   group: {await squares.result(timeout=10)}")
    print(f"   chord: {await total.result(timeout=10)}")
    assert aggregate.flow_id is not None
    flow = await get_flow(aggregate.flow_id)
    states = [f"{job.name or 'aggregate'}={job.state}" for job in flow]
    print(f"   get_flow: {', '.join(states)}")


def work() -> None:
    print("2. a worker runs them (--burst: until nothing is left)", flush=True)
    command = [sys.executable, "-m", "asynctasq", "worker", "--import", "tasks",
               "--queues", "default,etl", "--burst", "--log-level", "ERROR"]  # fmt: skip
    subprocess.run(command, cwd=HERE, check=True)


def main() -> int:
    for leftover in HERE.glob("broker.db*"):
        leftover.unlink()
    asyncio.run(dispatch())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
