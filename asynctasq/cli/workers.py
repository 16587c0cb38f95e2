"""``asynctasq worker list``: every worker by heartbeat (``worker`` alone runs one)."""

from __future__ import annotations

import argparse

from asynctasq.cli.admin import (
    Output,
    Subparsers,
    add_broker_options,
    ago,
    example,
    format_age,
    run_operation,
)
from asynctasq.cli.options import config_from_args
from asynctasq.cli.stats import ALIVE_GRACE
from asynctasq.drivers.base import Driver
from asynctasq.operations import list_workers

__all__ = ["add_parser"]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "workers",
        prog="asynctasq worker list",
        help="the workers running (also spelled `worker list`)",
        description="Every worker by its heartbeat: id, host, pid, queues, concurrency, "
        "active jobs, uptime, last heartbeat. One silent for longer than --max-age shows "
        "as dead until the registry forgets it.",
        **example("asynctasq worker list", "asynctasq worker list --json"),
    )
    parser.add_argument(
        "--max-age", type=float, metavar="S",
        help="seconds without a heartbeat before a worker shows as dead [default: "
        f"ASYNCTASQ_HEARTBEAT_INTERVAL + {ALIVE_GRACE:g}, as `stats`, which then leaves it "
        "out; the registry forgets a worker after three intervals]",
    )  # fmt: skip
    add_broker_options(parser)
    parser.set_defaults(handler=_list, command_name="worker list")


def _list(args: argparse.Namespace) -> int:
    max_age = args.max_age or config_from_args(args).heartbeat_interval + ALIVE_GRACE

    async def go(driver: Driver, out: Output) -> int:
        rows = await list_workers(driver, max_age=max_age)
        if out.json:
            out.data({"workers": rows, "next_cursor": None})
            return 0
        cells = [
            [
                w["worker_id"], w["host"], str(w["pid"]), ",".join(w["queues"]),
                f"{w['active']}/{w['concurrency']}", format_age(w["uptime"]),
                ago(w["last_seen"]), w["status"],
            ]
            for w in rows
        ]  # fmt: skip
        headings = ["worker", "host", "pid", "queues", "active", "up", "heartbeat", "status"]
        out.table(f"Workers ({len(rows)})", headings, cells)
        return 0

    return run_operation(args, go)
