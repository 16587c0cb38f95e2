"""What job dependencies cost: drain throughput of a plain batch, of a fan-out DAG and of
a fan-in DAG, and how soon a child starts after its last parent ends, on one driver.

    python -m benchmarks.dependencies --driver redis --runs 3

Scenarios (no-op jobs, one worker in this process, concurrency 100):

- plain drain: ``--jobs`` independent jobs;
- fan-out: 100 parents, each with 100 children (10,100 jobs);
- fan-in: 10,000 parents and one child depending on all of them;
- unblock latency: ``--pairs`` parent -> child pairs run one after the other; the time
  from the parent's body returning to the child's body starting (the parent's settle,
  the child's release and its claim), against the same measure between two independent
  jobs dispatched back to back (the worker's own settle-and-claim cycle).

The DAG scenarios are measured from the first job's start, with every job enqueued
before the worker starts: the figure is the worker's throughput with the dependency
bookkeeping, comparable to the plain drain.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import ClassVar

from asynctasq import AsyncTask
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.worker import Worker
from asynctasq.drivers.base import Driver
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from benchmarks.brokers import bench_config, cleanup
from benchmarks.tasks import NoOp, countdown
from benchmarks.throughput import Figure, percentile

QUEUE = "bench-deps"
#: seconds a parent waits before it may run, so that its child is linked first
LINK_MARGIN = 0.03


class Stamp(AsyncTask[None], name="bench.stamp"):
    """Records when its body started and ended (perf_counter), by its key."""

    started: ClassVar[dict[str, float]] = {}
    ended: ClassVar[dict[str, float]] = {}
    key: str

    async def execute(self) -> None:
        Stamp.started[self.key] = time.perf_counter()
        countdown.hit()
        Stamp.ended[self.key] = time.perf_counter()


class Scenario:
    def __init__(self, config: Config, concurrency: int) -> None:
        self.config = config
        self.concurrency = concurrency
        self.memory = MemoryBroker() if config.driver == "memory" else None

    async def driver(self) -> Driver:
        if self.memory is not None:
            driver: Driver = MemoryDriver(broker=self.memory)
        else:
            driver = DriverFactory.create_from_config(self.config)
        await driver.connect()
        return driver

    async def drain(self, layers: list[list[AsyncTask[None]]]) -> float:
        """Enqueue ``layers`` (each may name ids of earlier ones), then the jobs/s of
        one worker draining them all."""
        producer = await self.driver()
        dispatcher = Dispatcher(producer, self.config)
        total = 0
        for layer in layers:
            for i in range(0, len(layer), 5000):
                await dispatcher.dispatch_many(layer[i : i + 5000])
            total += len(layer)
        finished = countdown.arm(total)
        worker, running = await self._worker()
        started = time.perf_counter()
        await finished.wait()
        elapsed = time.perf_counter() - started
        await self._stop(worker, running, producer)
        return total / elapsed

    async def unblock_latency(self, pairs: int, linked: bool) -> list[float]:
        """ms from a parent's body ending to its child's body starting (``linked``), or
        from one job's end to the next independent job's start (dispatched together)."""
        producer = await self.driver()
        dispatcher = Dispatcher(producer, self.config)
        worker, running = await self._worker(concurrency=1)
        gaps = []
        for i in range(pairs):
            parent = Stamp(key=f"p{i}").on_queue(QUEUE)
            child = Stamp(key=f"c{i}").on_queue(QUEUE)
            finished = countdown.arm(2)
            if linked:  # the parent waits until its child is stored: no race between
                # the child's dispatch and its parent's end (that would time the dispatch)
                parent_id = await dispatcher.dispatch(parent.delay(LINK_MARGIN))
                await dispatcher.dispatch(child.with_options(depends_on=[parent_id]))
            else:
                await dispatcher.dispatch_many([parent, child])
            await finished.wait()
            first, second = sorted((f"p{i}", f"c{i}"), key=Stamp.started.__getitem__)
            gaps.append((Stamp.started[second] - Stamp.ended[first]) * 1000)
        await self._stop(worker, running, producer)
        return gaps

    async def _worker(self, concurrency: int | None = None) -> tuple[Worker, asyncio.Task[None]]:
        consumer = await self.driver()
        worker = Worker(
            consumer,
            [QUEUE],
            config=self.config,
            concurrency=concurrency or self.concurrency,
            handle_signals=False,
        )
        return worker, asyncio.create_task(worker.start())

    async def _stop(self, worker: Worker, running: asyncio.Task[None], producer: Driver) -> None:
        while len(worker._outcomes):  # every outcome reported to the broker
            await asyncio.sleep(0.0005)
        worker.stop()
        await running
        await worker.driver.disconnect()
        await producer.disconnect()


def plain(n: int) -> list[list[AsyncTask[None]]]:
    return [[NoOp().on_queue(QUEUE) for _ in range(n)]]


async def fan_out(scenario: Scenario, parents: int, children: int) -> float:
    tops = [NoOp().on_queue(QUEUE) for _ in range(parents)]
    producer = await scenario.driver()
    ids = await Dispatcher(producer, scenario.config).dispatch_many(tops)
    await producer.disconnect()
    layer = [
        NoOp().on_queue(QUEUE).with_options(depends_on=[parent])
        for parent in ids
        for _ in range(children)
    ]
    return await _drain_counting(scenario, layer, already=parents)


async def fan_in(scenario: Scenario, parents: int) -> float:
    tops = [NoOp().on_queue(QUEUE) for _ in range(parents)]
    producer = await scenario.driver()
    dispatcher = Dispatcher(producer, scenario.config)
    ids: list[str] = []
    for i in range(0, parents, 5000):
        ids += await dispatcher.dispatch_many(tops[i : i + 5000])
    await producer.disconnect()
    sink = NoOp().on_queue(QUEUE).with_options(depends_on=ids)
    return await _drain_counting(scenario, [sink], already=parents)


async def _drain_counting(
    scenario: Scenario, layer: list[AsyncTask[None]], *, already: int
) -> float:
    """Drain ``already`` stored jobs plus ``layer`` (enqueued now, blocked on them)."""
    producer = await scenario.driver()
    dispatcher = Dispatcher(producer, scenario.config)
    for i in range(0, len(layer), 5000):
        await dispatcher.dispatch_many(layer[i : i + 5000])
    await producer.disconnect()
    total = already + len(layer)
    finished = countdown.arm(total)
    worker, running = await scenario._worker()
    started = time.perf_counter()
    await finished.wait()
    elapsed = time.perf_counter() - started
    await scenario._stop(worker, running, await scenario.driver())
    return total / elapsed


async def run(args: argparse.Namespace) -> str:
    config = bench_config(args.driver)
    scenario = Scenario(config, args.concurrency)
    figures = {
        "plain": Figure(f"drain, {args.jobs:,} independent jobs", "jobs/s"),
        "out": Figure("drain, fan-out: 100 parents x 100 children", "jobs/s"),
        "in": Figure("drain, fan-in: 10,000 parents -> 1 child", "jobs/s"),
        "free": Figure("next job starts after one ends, p50 (independent)", "ms"),
        "linked": Figure("child starts after its parent ends, p50", "ms"),
    }
    try:
        for run_no in range(args.runs):
            figures["plain"].samples.append(await scenario.drain(plain(args.jobs)))
            figures["out"].samples.append(await fan_out(scenario, 100, 100))
            figures["in"].samples.append(await fan_in(scenario, 10_000))
            free = await scenario.unblock_latency(args.pairs, linked=False)
            linked = await scenario.unblock_latency(args.pairs, linked=True)
            figures["free"].samples.append(percentile(free, 50))
            figures["linked"].samples.append(percentile(linked, 50))
            print(f"  run {run_no + 1}: " + ", ".join(
                f"{k} {statistics.median(f.samples):,.1f}" for k, f in figures.items()
            ), file=sys.stderr)  # fmt: skip
    finally:
        cleanup(config)
    lines = [f"| {args.driver} | median | min | max | unit |", "|---|---:|---:|---:|---|"]
    lines += [figure.row() for figure in figures.values()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", default="redis")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=100)
    print(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
