"""``asynctasq stats``: the numbers of every queue and the live workers.

A table at a terminal; one JSON document when piped or with ``--json``
(``{"queues": [...], "workers": [...]}``); ``--watch S`` repeats every S seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from asynctasq.cli.display import Mode, choose_mode, print_json, rich_console
from asynctasq.cli.options import add_setting, config_from_args
from asynctasq.config import Config
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, WorkerRegistry, require
from asynctasq.jobs import QueueStats

__all__ = ["add_parser", "collect", "run"]

#: the columns of the queue table, and the keys of its JSON records: the same names
COLUMNS = ("pending", "active", "scheduled", "completed", "failed", "cancelled")
HEADINGS = COLUMNS
#: the worker table's columns, each a key of the worker's JSON record
WORKER_COLUMNS = ("worker_id", "host", "pid", "queues", "active", "started_at", "last_seen")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "stats",
        help="print queue statistics and live workers",
        description="Jobs per queue and state (pending, active, scheduled, completed, failed "
        "= dead-letter, cancelled) and the workers alive by heartbeat. A table at a terminal, "
        "JSON when piped or with --json.",
    )
    add_setting(parser, "--driver", "driver", metavar="NAME")
    parser.add_argument(
        "--queue",
        dest="only",
        metavar="Q1,Q2",
        help="only these queues (default: every queue the broker knows)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON even at a terminal")
    parser.add_argument(
        "--watch", type=float, metavar="S", help="refresh every S seconds until Ctrl-C"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.watch is not None and args.watch <= 0:
        raise SystemExit("asynctasq stats: --watch takes a number of seconds above 0")
    only = [q.strip() for q in (args.only or "").split(",") if q.strip()]
    mode = choose_mode(args.json)
    return asyncio.run(_show(config, only, mode, args.watch))


#: seconds past a missed heartbeat before a worker no longer counts as alive
ALIVE_GRACE = 5.0


async def collect(
    driver: Driver, only: Sequence[str] = (), *, heartbeat_interval: float | None = None
) -> dict[str, Any]:
    """The statistics as plain data: what --json prints. Workers are the live ones:
    heard from within a heartbeat interval and a small grace (``asynctasq worker list``
    also shows the dead ones the registry still holds)."""
    inspect = require(driver, Inspection, "the stats command")
    queues = list(only) or await inspect.queues()
    stats = [await inspect.stats(queue) for queue in queues]
    known = await driver.list_workers() if isinstance(driver, WorkerRegistry) else []
    if heartbeat_interval is not None:
        now = time.time()
        known = [w for w in known if now - w.last_seen <= heartbeat_interval + ALIVE_GRACE]
    workers = sorted(known, key=lambda w: w.worker_id)
    return {
        "queues": [_queue_record(s) for s in stats],
        "workers": [dataclasses.asdict(w) for w in workers],
    }


def _queue_record(stats: QueueStats) -> dict[str, Any]:
    """A queue's numbers under the names the table shows (``depth`` is what waits to
    run: pending; ``processing`` what runs: active)."""
    return {
        "queue": stats.queue,
        "pending": stats.depth,
        "active": stats.processing,
        "scheduled": stats.scheduled,
        "completed": stats.completed,
        "failed": stats.failed,
        "cancelled": stats.cancelled,
        "paused": stats.paused,
    }


async def _show(config: Config, only: list[str], mode: Mode, watch: float | None) -> int:
    driver = DriverFactory.create_from_config(config)
    interval = config.heartbeat_interval
    await driver.connect()
    try:
        if watch is None:
            _print(await collect(driver, only, heartbeat_interval=interval), mode)
            return 0
        if mode == "rich":
            return await _live(driver, only, watch, interval)
        while True:  # until Ctrl-C
            _print(await collect(driver, only, heartbeat_interval=interval), mode)
            await asyncio.sleep(watch)
    finally:
        await driver.disconnect()


def _print(data: dict[str, Any], mode: Mode) -> None:
    if mode == "json":
        print_json(data)
    elif mode == "rich":
        console = rich_console()
        for table in _tables(data):
            console.print(table)
    else:
        print(_plain(data))


async def _live(driver: Driver, only: list[str], every: float, interval: float) -> int:
    from rich.console import Group
    from rich.live import Live

    with Live(auto_refresh=False) as live:
        while True:
            data = await collect(driver, only, heartbeat_interval=interval)
            live.update(Group(*_tables(data)), refresh=True)
            await asyncio.sleep(every)


def _tables(data: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    queues = Table(title="Queues", title_justify="left")
    queues.add_column("queue", style="bold")
    for heading in HEADINGS:
        queues.add_column(heading, justify="right")
    queues.add_column("paused")
    for row in data["queues"]:
        cells = [_count(row[c], c) for c in COLUMNS]
        queues.add_row(row["queue"], *cells, "[yellow]paused[/]" if row["paused"] else "")
    workers = Table(title=f"Workers ({len(data['workers'])} alive)", title_justify="left")
    for heading in WORKER_COLUMNS:
        workers.add_column(heading, justify="right" if heading in ("pid", "active") else "left")
    for w in grouped(data["workers"]):
        workers.add_row(*_worker_cells(w))
    return [queues, workers]


def grouped(workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per worker, except the processes of one supervisor (``--processes``):
    one row for the group, its pids listed, its jobs and slots added up."""
    rows: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for w in workers:
        key = w.get("supervisor")
        if not key:
            rows.append(w)
            continue
        group = groups.get(key)
        if group is None:
            group = groups[key] = {**w, "worker_id": key, "pid": str(w["pid"]), "processes": 1}
            rows.append(group)
            continue
        group["pid"] = f"{group['pid']},{w['pid']}"
        group["processes"] += 1
        group["active"] += w["active"]
        group["concurrency"] += w["concurrency"]
        group["started_at"] = min(group["started_at"], w["started_at"])
        group["last_seen"] = max(group["last_seen"], w["last_seen"])
    for group in groups.values():
        group["worker_id"] = f"{group['worker_id']} ({group['processes']} processes)"
    return rows


def _count(value: int, column: str) -> str:
    if column == "failed" and value:
        return f"[red]{value}[/]"
    return str(value)


def _worker_cells(w: dict[str, Any]) -> list[str]:
    now = time.time()
    return [
        w["worker_id"],
        w["host"],
        str(w["pid"]),
        ",".join(w["queues"]),
        f"{w['active']}/{w['concurrency']}",
        _ago(now - w["started_at"]) + " ago" if w["started_at"] else "?",
        _ago(now - w["last_seen"]) + " ago" if w["last_seen"] else "?",
    ]


def _plain(data: dict[str, Any]) -> str:
    rows = [["queue", *HEADINGS, "paused"]]
    for q in data["queues"]:
        rows.append([q["queue"], *(str(q[c]) for c in COLUMNS), "yes" if q["paused"] else ""])
    lines = _aligned(rows)
    lines.append("")
    lines.append(f"{len(data['workers'])} worker(s) alive")
    if data["workers"]:
        header = list(WORKER_COLUMNS)
        lines.extend(_aligned([header, *(_worker_cells(w) for w in grouped(data["workers"]))]))
    return "\n".join(lines)


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
