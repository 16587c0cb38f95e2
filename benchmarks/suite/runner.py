"""One run of one system, inside that system's virtualenv; JSON lines on stdout.

    python -m benchmarks.suite.runner --system arq --describe
    python -m benchmarks.suite.runner --system arq --steps steps.json --workdir DIR

Events: ``describe`` (version, settings, capabilities), ``progress`` (jobs done in a
step), ``result`` (a step's figure), ``error`` (a step failed: the run goes on).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.peers import ENTRIES
from benchmarks.suite import workload
from benchmarks.suite.plan import BULK_CHUNK, WARM_UP
from benchmarks.suite.protocol import System
from benchmarks.suite.worker_process import WorkerGroup

#: a step fails when no job finishes for this long
STALL_SECONDS = 30.0
PREFILL_WINDOW = 100
#: a drain queues at least this many jobs
MIN_DRAIN = 500
#: a drain queues this many times what the hint says the system can do in the cap
HEADROOM = 1.2
#: a measured worker gets this long to stop on SIGTERM before it is killed: its
#: figures are in, and what it would still do is flushed with its namespace
STOP_GRACE = 0.3
#: idle time before each probe: at least this, plus a random share of the last
#: latency so that a worker polling on a timer is probed at random points of its
#: period, not phase-locked to it
LATENCY_GAP = 0.002


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def load(name: str) -> System:
    target = ENTRIES[name].target
    module_name, _, class_name = target.partition(":")
    cls: type[System] = getattr(importlib.import_module(module_name), class_name)
    return cls()


def describe(system: System) -> dict[str, Any]:
    return {
        "name": system.name,
        "version": system.version(),
        "broker": system.broker,
        "bulk_api": system.bulk_api,
        "fixed_concurrency": system.fixed_concurrency,
        "best_concurrency": system.best_concurrency,
        "cpu_pool": system.cpu_pool,
        "settings": list(system.settings),
        "supervisor": system.supervisor,
        "python": sys.version.split()[0],
    }


class Runner:
    def __init__(self, system: System, workdir: Path) -> None:
        self.system = system
        self.workdir = workdir
        self.queued = 0  # jobs a "keep" step left in the queue for the next one
        self.fastest = 0.0  # the best drain rate so far in this run, jobs/s

    async def run(self, steps: list[dict[str, Any]]) -> None:
        await self.system.setup()
        try:
            for step in steps:
                started = time.monotonic()
                try:
                    await self.step(step)
                except Exception as exc:
                    emit(
                        "error",
                        key=step["key"],
                        message=f"{type(exc).__name__}: {exc}",
                        detail=traceback.format_exc(limit=6),
                    )
                    step = {**step, "keep": False}
                if not step.get("keep"):
                    await self.system.reset()
                    self.queued = 0
                emit("timing", key=step["key"], seconds=round(time.monotonic() - started, 2))
        finally:
            await self.system.teardown()

    async def step(self, step: dict[str, Any]) -> None:
        op = step["op"]
        if op == "enqueue":
            await self.enqueue_single(step)
        elif op == "bulk":
            await self.enqueue_bulk(step)
        elif op == "drain":
            await self.drain(step)
        elif op == "latency":
            await self.latency(step)
        else:
            raise ValueError(f"unknown step op {op!r}")

    # -- enqueue -----------------------------------------------------------------

    async def warm_up(self) -> None:
        for _ in range(WARM_UP):
            await self.system.enqueue("mark")
        self.queued += WARM_UP

    async def enqueue_concurrent(self, step: dict[str, Any]) -> None:
        """``callers`` coroutines enqueueing one job at a time, as the handlers of a
        busy ASGI app do (a synchronous client runs them one after the other)."""
        count, cap, enqueue = step["count"], step["cap"], self.system.enqueue
        await self.warm_up()
        done = 0
        started = time.perf_counter()

        async def caller() -> None:
            nonlocal done
            while done < count and time.perf_counter() - started <= cap:
                done += 1
                await enqueue("mark")

        await asyncio.gather(*(caller() for _ in range(step["callers"])))
        elapsed = time.perf_counter() - started
        self.queued += done
        self.result(step, done / elapsed, "jobs/s", done=done, of=count)

    async def enqueue_single(self, step: dict[str, Any]) -> None:
        if step.get("callers"):
            await self.enqueue_concurrent(step)
            return
        count, cap, enqueue = step["count"], step["cap"], self.system.enqueue
        await self.warm_up()
        done = 0
        started = time.perf_counter()
        while done < count:
            for _ in range(min(100, count - done)):
                await enqueue("mark")
            done += min(100, count - done)
            if time.perf_counter() - started > cap:
                break
        elapsed = time.perf_counter() - started
        self.queued += done
        self.result(step, done / elapsed, "jobs/s", done=done, of=count)

    async def enqueue_bulk(self, step: dict[str, Any]) -> None:
        count, cap = step["count"], step["cap"]
        done = 0
        started = time.perf_counter()
        while done < count and time.perf_counter() - started <= cap:
            chunk = min(BULK_CHUNK, count - done)
            await self.system.enqueue_bulk("mark", chunk)
            done += chunk
        elapsed = time.perf_counter() - started
        self.queued += done
        self.result(step, done / elapsed, "jobs/s", done=done, of=count)

    async def prefill(self, kind: Any, count: int) -> None:
        """Queue jobs for a drain, by the fastest public means (not measured)."""
        done = 0
        while done < count:
            n = min(BULK_CHUNK if self.system.bulk_api else PREFILL_WINDOW, count - done)
            if self.system.bulk_api:
                await self.system.enqueue_bulk(kind, n)
            else:
                await asyncio.gather(*(self.system.enqueue(kind) for _ in range(n)))
            done += n
            emit("progress", phase="prefill", done=done, total=count)
        self.queued = count

    # -- workers -------------------------------------------------------------------

    def workers(self, step: dict[str, Any], kind: Any, marks: Path) -> WorkerGroup:
        marks.unlink(missing_ok=True)
        if step.get("worker") == "default":
            specs = [self.system.default_worker(kind, step.get("processes_flag", 1))]
        else:
            count = step.get("processes", 1)
            specs = [self.system.worker(kind, step["concurrency"]) for _ in range(count)]
        log = self.workdir / f"{self.system.name}-{step['key']}.log"
        return WorkerGroup(specs, {workload.MARKS_ENV: str(marks)}, log)

    async def wait_first(self, group: WorkerGroup, marks: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while workload.count_marks(str(marks)) == 0:
            if group.dead():
                raise RuntimeError(f"the worker exited ({group.dead()}):\n{group.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no job ran within {timeout:.0f}s:\n{group.log_tail()}")
            group.sample_memory()
            await asyncio.sleep(0.02)

    def drain_size(self, step: dict[str, Any]) -> int:
        """N, or for a system that cannot drain N within the cap, a little more than
        it can (judged by its earlier runs, else by its fastest drain so far in this
        one): jobs it would never reach cost time to queue and to flush, and a queue
        that runs dry early still gives a rate, over fewer jobs."""
        hint = step.get("hint")
        if hint is None and step["kind"] != "cpu":
            hint = self.fastest or None
        if not hint:
            return int(step["count"])
        return min(int(step["count"]), max(MIN_DRAIN, int(hint * step["cap"] * HEADROOM)))

    async def drain(self, step: dict[str, Any]) -> None:
        kind = step["kind"]
        clock = time.monotonic()
        if step.get("fresh") and self.queued:  # exactly N jobs, not what earlier steps left
            await self.system.reset()
            self.queued = 0
        if self.queued:
            target = self.queued
        else:
            target = self.drain_size(step)
            await self.prefill(kind, target)
        await self.system.before_drain()
        phases = {"prefill": time.monotonic() - clock}
        marks = self.workdir / f"marks-{step['key']}"
        group = self.workers(step, kind, marks)
        clock, launched = time.monotonic(), time.time()
        group.start()
        try:
            await self.wait_first(group, marks, step["start_timeout"])
            first = last_change = time.monotonic()
            phases["start"] = first - clock
            done, capped, next_report = 0, False, 0.0
            while True:
                now = time.monotonic()
                n = workload.count_marks(str(marks))
                if n != done:
                    done, last_change = n, now
                if done >= target:
                    break
                if now - first > step["cap"]:
                    capped = True
                    break
                if now - last_change > STALL_SECONDS or group.dead():
                    raise RuntimeError(f"stalled at {done}/{target} jobs:\n{group.log_tail()}")
                if now >= next_report:
                    emit("progress", phase=step["key"], done=done, total=target)
                    next_report = now + 0.25
                group.sample_memory()
                await asyncio.sleep(0.02)
            stamps = sorted(workload.read_marks(str(marks)))[: max(done, 2)]
            group.sample_memory()
            phases["measure"] = time.monotonic() - first
        finally:
            clock = time.monotonic()
            group.stop(STOP_GRACE)
            phases["stop"] = time.monotonic() - clock
        extra = {"rss_mib": round(group.peak_rss_mib(), 1)} if step.get("memory") else {}
        rate = launch_rate(stamps, launched) if step.get("from_launch") else window_rate(stamps)
        if kind != "cpu":
            self.fastest = max(self.fastest, rate)
        self.result(
            step,
            rate,
            "jobs/s",
            done=len(stamps),
            of=target,
            capped=capped,
            phases={k: round(v, 2) for k, v in phases.items()},
            **extra,
        )

    # -- latency -------------------------------------------------------------------

    async def latency(self, step: dict[str, Any]) -> None:
        marks = self.workdir / f"marks-{step['key']}"
        group = self.workers(step, "probe", marks)
        group.start()
        try:
            await self.system.enqueue("probe")  # the worker is up once this one ran
            await self.wait_first(group, marks, step["start_timeout"])
            for _ in range(3):  # warm up connections and code paths
                await self.probe(marks)
            start_ms: list[float] = []
            done_ms: list[float] = []
            began = time.monotonic()
            while len(start_ms) < step["count"] and time.monotonic() - began < step["cap"]:
                started, completed = await self.probe(marks)
                start_ms.append(round(started * 1000, 3))
                done_ms.append(round(completed * 1000, 3))
                if len(start_ms) % 25 == 0:
                    emit("progress", phase="latency", done=len(start_ms), total=step["count"])
                await asyncio.sleep(LATENCY_GAP + random.uniform(0, min(1.0, 2 * started)))
        finally:
            group.stop(STOP_GRACE)
        emit("result", key=step["key"], start_ms=start_ms, done_ms=done_ms, of=step["count"])

    async def probe(self, marks: Path) -> tuple[float, float]:
        """Seconds from the enqueue call to the job's start, and to its completion as
        the system's public API reports it."""
        before = workload.count_marks(str(marks))
        sent = time.time()
        handle = await self.system.enqueue("probe")
        deadline = time.monotonic() + STALL_SECONDS
        while workload.count_marks(str(marks)) <= before:
            if time.monotonic() > deadline:
                raise TimeoutError("a latency probe did not start within 30s")
            await asyncio.sleep(0.0002)
        started = workload.last_mark(str(marks)) - sent
        while not await self.system.is_complete(handle):
            if time.monotonic() > deadline:
                raise TimeoutError("a latency probe did not complete within 30s")
            await asyncio.sleep(0.0002)
        return started, time.time() - sent

    def result(self, step: dict[str, Any], value: float, unit: str, **extra: Any) -> None:
        emit("result", key=step["key"], value=round(value, 2), unit=unit, **extra)


def launch_rate(stamps: list[float], launched: float) -> float:
    """Jobs per second from the worker's launch to its last job: start-up included."""
    if not stamps:
        raise RuntimeError("no job finished: no rate to compute")
    return len(stamps) / max(stamps[-1] - launched, 1e-6)


def window_rate(stamps: list[float]) -> float:
    """Jobs per second between the 5th and the 95th percentile of completions: the
    steady rate, not the workers' start-up nor the last stragglers."""
    n = len(stamps)
    if n < 2:
        raise RuntimeError(f"only {n} job(s) finished: no rate to compute")
    lo, hi = (n // 20, n - 1 - n // 20) if n >= 100 else (0, n - 1)
    span = stamps[hi] - stamps[lo]
    return (hi - lo) / span if span > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", required=True, choices=sorted(ENTRIES))
    parser.add_argument("--describe", action="store_true")
    parser.add_argument("--steps", type=Path, help="JSON list of steps")
    parser.add_argument("--workdir", type=Path, default=Path("."))
    args = parser.parse_args()
    system = load(args.system)
    if args.describe:
        emit("describe", **describe(system))
        return
    steps = json.loads(args.steps.read_text())
    asyncio.run(Runner(system, args.workdir).run(steps))


if __name__ == "__main__":
    main()
