"""What publishing events costs a worker: no-op drain with events off, then on.

    python -m benchmarks.events --driver redis --jobs 5000 --runs 25

Each run drains ``--jobs`` no-op jobs with one in-process worker (the drain of
benchmarks/throughput.py) twice, events off and events on, in alternating order.
"On" is a RedisEventEmitter on ASYNCTASQ_EVENTS_REDIS_URL (default: the local
Redis) with a subscriber in another process (at low priority) that counts what it
receives: the count shows nothing was lost. The headline is the median jobs/s with
events on against off; the paired runs' own median and spread, and the worker
process's CPU time per job, are shown too (on a busy host every figure moves).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import msgpack

from asynctasq.core.events.redis import RedisEventEmitter, connect_redis
from asynctasq.core.events.sources import RedisSource
from benchmarks.brokers import bench_config, cleanup
from benchmarks.throughput import Bench, Figure

ROOT = Path(__file__).resolve().parent.parent


async def count_events(url: str, channel: str) -> None:
    """The subscriber process: counts the events it receives until SIGTERM, then prints
    the total. It unpacks each message but builds no Event objects: on a small host
    a Python-level consumer would take its CPU from the worker being measured."""
    source = RedisSource(url, channel)
    await source.open()
    print("ready", flush=True)
    seen = 0
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        message = await source.next_message(0.1)
        if message is not None:
            seen += len(msgpack.unpackb(message)["events"])
    while (message := await source.next_message(0.5)) is not None:  # the tail
        seen += len(msgpack.unpackb(message)["events"])
    await source.close()
    print(seen, flush=True)


def start_subscriber(url: str, channel: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "benchmarks.events", "--count-events", url, channel]
    # at low priority: on a small host it would otherwise take its CPU from the worker
    # being measured, where an operator's consumer usually runs on another machine
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.nice(10)
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the subscriber process did not start")
    return process


def stop_subscriber(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    return int(out.split()[-1])


async def drop_redis_keys(url: str, prefix: str) -> None:
    """The benchmark's own namespace only, never anything else."""
    client = connect_redis(url)
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


async def run(args: argparse.Namespace) -> str:
    config = bench_config(args.driver)
    events_url = os.environ.get("ASYNCTASQ_EVENTS_REDIS_URL", "redis://127.0.0.1:6379/0")
    channel = f"bench-events-{secrets.token_hex(3)}"
    bench = Bench(config, args.concurrency)
    off = Figure("drain, events off", "jobs/s")
    on = Figure("drain, events on (Redis Pub/Sub)", "jobs/s")
    cpu_off = Figure("CPU per job, events off", "µs")
    cpu_on = Figure("CPU per job, events on", "µs")
    overheads: list[float] = []
    published = dropped = 0
    load_before = os.getloadavg()[0]
    subscriber = start_subscriber(events_url, channel) if args.subscriber else None
    try:
        await bench.drain(min(args.jobs, 2000))  # warm-up: imports, connections, caches
        for i in range(args.runs):
            # a pair per run, in alternating order: slow drifts of a shared host cancel out
            rates: dict[bool, float] = {}
            for events in (False, True) if i % 2 == 0 else (True, False):
                emitter = RedisEventEmitter(events_url, channel=channel) if events else None
                rates[events] = await bench.drain(args.jobs, event_emitter=emitter)
                (on if events else off).samples.append(rates[events])
                (cpu_on if events else cpu_off).samples.append(bench.drain_cpu_per_job * 1e6)
                if emitter is not None:
                    await emitter.close()
                    published += emitter.sent
                    dropped += emitter.dropped
            overheads.append(1 - rates[True] / rates[False])
            print(
                f"  run {i + 1}: off {rates[False]:,.0f} jobs/s, on {rates[True]:,.0f} jobs/s, "
                f"overhead {overheads[-1]:.1%}",
                file=sys.stderr,
            )
    finally:
        delivered = stop_subscriber(subscriber) if subscriber is not None else None
        cleanup(config)
        if config.driver == "redis":
            await drop_redis_keys(config.redis_url, config.redis_prefix)
    overhead = 1 - statistics.median(on.samples) / statistics.median(off.samples)
    paired = statistics.median(overheads)
    best = 1 - max(on.samples) / max(off.samples)
    cpu = statistics.median(cpu_on.samples) / statistics.median(cpu_off.samples) - 1
    cpu_best = min(cpu_on.samples) / min(cpu_off.samples) - 1
    load_after = os.getloadavg()[0]
    received = (
        f"received by the subscriber process: {delivered:,}"
        if delivered is not None
        else "no subscriber"
    )
    lines = [
        f"`{' '.join(['python -m benchmarks.events', *sys.argv[1:]])}`",
        "",
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}; {args.driver} broker, {args.jobs:,} no-op jobs per drain, "
        f"one worker, concurrency {args.concurrency}; median of {args.runs} runs (min, max); "
        f"load average {load_before:.1f} before, {load_after:.1f} after (a shared host)",
        "",
        f"| {args.driver} | median | min | max | unit |",
        "|---|---:|---:|---:|---|",
        off.row(),
        on.row(),
        cpu_off.row(),
        cpu_on.row(),
        "",
        f"Overhead of events on drain throughput: **{overhead:.1%}** (median jobs/s, on "
        f"against off); median of the {args.runs} paired runs {paired:.1%} (from "
        f"{min(overheads):.1%} to {max(overheads):.1%}); best run against best run "
        f"{best:.1%}. Worker process CPU per job: {cpu:+.1%} (medians), {cpu_best:+.1%} "
        f"(fastest runs). "
        f"Events published: {published:,}; "
        f"{received}; dropped: {dropped:,}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--driver", default="redis", help="broker of the drained jobs")
    parser.add_argument("--jobs", type=int, default=5_000, help="jobs per drain")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--runs", type=int, default=25, help="pairs of drains (many short ones: steadier)"
    )
    parser.add_argument(
        "--no-subscriber",
        dest="subscriber",
        action="store_false",
        help="publish to nobody (by default a subscriber process reads the stream)",
    )
    parser.add_argument(
        "--count-events", nargs=2, metavar=("URL", "CHANNEL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.count_events:
        asyncio.run(count_events(*args.count_events))
        return
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
