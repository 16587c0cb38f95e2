"""``asynctasq watch``: a live view of queues, rates and workers at a terminal.

Counts come from the broker every ``--interval`` seconds; rates (jobs completed and
attempts failed per second over the last minute) from the event stream when one is
configured (``ASYNCTASQ_EVENTS_REDIS_URL`` or ``ASYNCTASQ_EVENTS_POSTGRES_DSN``), else
from the change in the broker's counts between refreshes (kept completed jobs, new
dead letters). Piped (or with --json) it prints
one JSON snapshot per refresh instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

from asynctasq.cli.admin import (
    Output,
    Subparsers,
    add_broker_options,
    ago,
    example,
    format_age,
    run_operation,
)
from asynctasq.cli.options import add_setting, config_from_args
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import WorkerRegistry
from asynctasq.operations import list_workers, queue_summaries
from asynctasq.operations.rates import EventRates

__all__ = ["add_parser"]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "watch",
        help="a live view of queues, rates and workers",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        **example("asynctasq watch", "asynctasq watch --interval 5 --redis-url redis://host"),
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between refreshes [default: 2]",
    )
    parser.add_argument("--count", type=int, metavar="N", help="stop after N refreshes")
    add_setting(
        parser,
        "--redis-url",
        "events_redis_url",
        "Redis the workers publish events on",
        metavar="URL",
    )
    add_setting(
        parser, "--postgres-dsn", "events_postgres_dsn",
        "PostgreSQL the workers NOTIFY events on (when no Redis URL is set)", metavar="DSN",
    )  # fmt: skip
    add_setting(parser, "--channel", "events_channel", metavar="NAME")
    add_broker_options(parser)
    parser.set_defaults(handler=_watch, command_name="watch")


def _watch(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise SystemExit("asynctasq watch: --interval takes a number of seconds above 0")
    config = config_from_args(args)

    async def go(driver: Driver, out: Output) -> int:
        rates = EventRates()
        follower = await _follow_events(config, rates)
        try:
            return await _refresh(driver, out, rates, args, streamed=follower is not None)
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower

    return run_operation(args, go)


async def _follow_events(config: Any, rates: EventRates) -> asyncio.Task[None] | None:
    if not (config.events_redis_url or config.events_postgres_dsn):
        return None
    # lazy: the subscriber imports the Redis and PostgreSQL clients (optional extras)
    from asynctasq.core.events.subscriber import EventSubscriber

    subscriber = EventSubscriber(
        redis_url=config.events_redis_url,
        postgres_dsn=None if config.events_redis_url else config.events_postgres_dsn,
        channel=config.events_channel,
    )
    await subscriber.connect()

    async def listen() -> None:
        try:
            async for event in subscriber.listen():
                rates.add(event.event_type, event.queue, event.at)
        finally:
            await subscriber.close()

    return asyncio.create_task(listen())


async def snapshot(
    driver: Driver, rates: EventRates, previous: dict[str, Any] | None, streamed: bool
) -> dict[str, Any]:
    """Queues with their rates, and workers: what one refresh shows."""
    now = time.time()
    queues = await queue_summaries(driver)
    before = {q["queue"]: q for q in (previous or {}).get("queues", [])}
    span = now - previous["at"] if previous else 0.0
    for q in queues:
        if streamed:
            q["completed_per_s"] = rates.per_second(q["queue"], "task_completed", now)
            q["failed_per_s"] = rates.per_second(q["queue"], "task_failed", now)
        elif q["queue"] in before and span > 0:  # from the counts: kept jobs only
            old = before[q["queue"]]
            q["completed_per_s"] = max(0, q["completed"] - old["completed"]) / span
            q["failed_per_s"] = max(0, q["failed"] - old["failed"]) / span
        else:
            q["completed_per_s"] = q["failed_per_s"] = None
    workers = await list_workers(driver) if isinstance(driver, WorkerRegistry) else []
    return {
        "at": now,
        "queues": queues,
        "workers": workers,
        "rates_from": "events" if streamed else "counts",
    }


async def _refresh(
    driver: Driver, out: Output, rates: EventRates, args: argparse.Namespace, *, streamed: bool
) -> int:
    previous = None
    refreshes = 0
    live = None
    if out.mode == "rich":
        from rich.live import Live  # rich: only at a terminal

        live = Live(auto_refresh=False)
        live.start()
    try:
        while args.count is None or refreshes < args.count:
            if refreshes:
                await asyncio.sleep(args.interval)
            previous = await snapshot(driver, rates, previous, streamed)
            refreshes += 1
            if live is not None:
                live.update(_view(previous), refresh=True)
            elif out.json:
                out.data(previous)
            else:
                out.line(_plain(previous))
    finally:
        if live is not None:
            live.stop()
    return 0


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _view(data: dict[str, Any]) -> Any:
    from rich.console import Group  # rich: only at a terminal
    from rich.table import Table

    queues = Table(title=f"Queues (rates from {data['rates_from']})", title_justify="left")
    for heading in ("queue", "pending", "active", "scheduled", "failed", "paused",
                    "oldest waiting", "done/s", "failed/s"):  # fmt: skip
        queues.add_column(
            heading, justify="left" if heading == "queue" else "right", no_wrap=heading == "queue"
        )
    for q in data["queues"]:
        queues.add_row(
            q["queue"], str(q["pending"]), str(q["active"]), str(q["scheduled"]),
            f"[red]{q['failed']}[/]" if q["failed"] else "0",
            "[yellow]paused[/]" if q["paused"] else "", format_age(q["oldest_pending_age"]),
            _rate(q["completed_per_s"]), _rate(q["failed_per_s"]),
        )  # fmt: skip
    workers = Table(title=f"Workers ({len(data['workers'])})", title_justify="left")
    for heading in ("worker", "queues", "active", "up", "heartbeat", "status"):
        workers.add_column(heading)
    for w in data["workers"]:
        status = "[green]alive[/]" if w["status"] == "alive" else "[red]dead[/]"
        workers.add_row(
            w["worker_id"], ",".join(w["queues"]), f"{w['active']}/{w['concurrency']}",
            format_age(w["uptime"]), ago(w["last_seen"]), status,
        )  # fmt: skip
    return Group(queues, workers)


def _plain(data: dict[str, Any]) -> str:
    lines = [f"{time.strftime('%H:%M:%S')} rates from {data['rates_from']}"]
    for q in data["queues"]:
        lines.append(
            f"  {q['queue']}: pending {q['pending']} active {q['active']} failed {q['failed']} "
            f"done/s {_rate(q['completed_per_s'])} failed/s {_rate(q['failed_per_s'])}"
        )
    lines.append(f"  workers: {len(data['workers'])}")
    return "\n".join(lines)
