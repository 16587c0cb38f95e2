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

__all__ = ["add_parser", "collect", "run"]

COLUMNS = ("depth", "processing", "scheduled", "completed", "failed", "cancelled")
HEADINGS = ("pending", "active", "scheduled", "completed", "failed", "cancelled")


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


async def collect(driver: Driver, only: Sequence[str] = ()) -> dict[str, Any]:
    """The statistics as plain data: what --json prints."""
    queues = list(only) or await driver.queues()
    stats = [await driver.stats(queue) for queue in queues]
    workers = sorted(await driver.list_workers(), key=lambda w: w.worker_id)
    return {
        "queues": [dataclasses.asdict(s) for s in stats],
        "workers": [dataclasses.asdict(w) for w in workers],
    }


async def _show(config: Config, only: list[str], mode: Mode, watch: float | None) -> int:
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    try:
        if watch is None:
            _print(await collect(driver, only), mode)
            return 0
        if mode == "rich":
            return await _live(driver, only, watch)
        while True:  # until Ctrl-C
            _print(await collect(driver, only), mode)
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


async def _live(driver: Driver, only: list[str], every: float) -> int:
    from rich.console import Group
    from rich.live import Live

    with Live(auto_refresh=False) as live:
        while True:
            live.update(Group(*_tables(await collect(driver, only))), refresh=True)
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
    for heading in ("worker", "host", "pid", "queues", "active", "up", "last seen"):
        workers.add_column(heading, justify="right" if heading in ("pid", "active") else "left")
    for w in data["workers"]:
        workers.add_row(*_worker_cells(w))
    return [queues, workers]


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
        _ago(now - w["started_at"]) if w["started_at"] else "?",
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
        header = ["worker", "host", "pid", "queues", "active", "up", "last seen"]
        lines.extend(_aligned([header, *(_worker_cells(w) for w in data["workers"])]))
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
