"""``asynctasq health``: exit 0 when the broker answers (and, with --queue, a live
worker serves the queue); otherwise one line and exit 1. For container probes."""

from __future__ import annotations

import argparse
import dataclasses

from asynctasq.cli.admin import Output, Subparsers, add_broker_options, example, run_operation
from asynctasq.cli.health_file import file_age
from asynctasq.drivers.base import Driver
from asynctasq.operations import check_health

__all__ = ["add_parser"]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "health",
        help="exit 0 if the broker answers (and a live worker serves --queue)",
        description="A probe for Kubernetes and friends: exit 0 when the broker answers "
        "and, with --queue, a worker serving that queue sent a heartbeat within --max-age "
        "seconds; otherwise print one line and exit 1.",
        **example(
            "asynctasq health",
            "asynctasq health --queue email --max-age 60",
            "asynctasq health --file /tmp/worker.health --max-age 60",
        ),
    )
    parser.add_argument("--queue", metavar="Q", help="also require a live worker on this queue")
    parser.add_argument(
        "--file",
        metavar="PATH",
        help="check the file a worker started with --health-file PATH rewrites at each "
        "heartbeat instead (no broker round trip)",
    )
    parser.add_argument(
        "--max-age", type=float, default=60.0, metavar="S",
        help="youngest heartbeat that counts as live, in seconds [default: 60]",
    )  # fmt: skip
    add_broker_options(parser)
    parser.set_defaults(handler=_health, command_name="health")


def _health(args: argparse.Namespace) -> int:
    if args.file:
        return _file(args.file, args.max_age)

    async def go(driver: Driver, out: Output) -> int:
        health = await check_health(driver, queue=args.queue, max_age=args.max_age)
        if out.json:
            out.data(dataclasses.asdict(health))
        else:
            out.line(health.message)
        return 0 if health.ok else 1

    return run_operation(args, go)


def _file(path: str, max_age: float) -> int:
    age = file_age(path)
    if age is None:
        print(f"unhealthy: no health file {path} (is the worker running with --health-file?)")
        return 1
    if age > max_age:
        print(f"unhealthy: the worker last wrote {path} {age:.0f}s ago (over {max_age:g}s)")
        return 1
    print(f"ok: the worker wrote {path} {age:.0f}s ago")
    return 0
