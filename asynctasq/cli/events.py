"""``asynctasq events``: follow the live event stream of every worker.

One coloured line per event at a terminal; JSON lines (one event object each) when
piped or with ``--json``. Reads the stream the workers send to
(``ASYNCTASQ_EVENTS_REDIS_URL`` or ``ASYNCTASQ_EVENTS_POSTGRES_DSN``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from asynctasq.cli.display import Mode, choose_mode, print_json, rich_console
from asynctasq.cli.options import add_setting, config_from_args
from asynctasq.config import ConfigError
from asynctasq.core.events.types import EVENT_TYPES, Event

__all__ = ["add_parser", "describe", "run"]

_STYLE = {
    "task_enqueued": "dim",
    "task_started": "cyan",
    "task_completed": "green",
    "task_failed": "red",
    "task_retrying": "yellow",
    "task_dead": "bold red",
    "task_progress": "blue",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "events",
        help="follow the live event stream",
        description="Print the events of every worker as they happen (Ctrl-C to stop). "
        f"Kinds: {', '.join(EVENT_TYPES)}.",
    )
    add_setting(
        parser,
        "--redis-url",
        "events_redis_url",
        "Redis the workers publish events on",
        metavar="URL",
    )
    add_setting(
        parser,
        "--postgres-dsn",
        "events_postgres_dsn",
        "PostgreSQL the workers NOTIFY events on (when no Redis URL is set)",
        metavar="DSN",
    )
    add_setting(parser, "--channel", "events_channel", metavar="NAME")
    parser.add_argument("--kind", metavar="K1,K2", help="only these kinds (e.g. task_failed)")
    parser.add_argument("--queue", metavar="Q1,Q2", help="only events of these queues")
    parser.add_argument("--json", action="store_true", help="print JSON lines even at a terminal")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N events")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if not (config.events_redis_url or config.events_postgres_dsn):
        raise ConfigError(
            "no event stream to follow: set ASYNCTASQ_EVENTS_REDIS_URL (or "
            "ASYNCTASQ_EVENTS_POSTGRES_DSN), or pass --redis-url / --postgres-dsn"
        )
    # lazy: the subscriber imports the Redis and PostgreSQL clients (optional extras)
    from asynctasq.core.events.subscriber import EventSubscriber

    try:
        subscriber = EventSubscriber(
            redis_url=config.events_redis_url,
            postgres_dsn=None if config.events_redis_url else config.events_postgres_dsn,
            channel=config.events_channel,
            kinds=_split(args.kind),
            queues=_split(args.queue),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return asyncio.run(_follow(subscriber, choose_mode(args.json), args.count))


async def _follow(subscriber: Any, mode: Mode, count: int | None) -> int:
    try:
        await subscriber.connect()
    except ConnectionError as exc:
        print(f"asynctasq: {exc}", file=sys.stderr)
        return 1
    print(f"following events on {subscriber.source!r} (Ctrl-C to stop)", file=sys.stderr)
    sys.stderr.flush()
    console = rich_console() if mode == "rich" else None
    seen = 0
    try:
        async for event in subscriber.listen():
            if mode == "json":
                print_json(event.to_dict())
            elif console is not None:
                console.print(describe(event, rich=True))
            else:
                print(describe(event), flush=True)
            seen += 1
            if count is not None and seen >= count:
                break
    finally:
        await subscriber.close()
    return 0


def describe(event: Event, *, rich: bool = False) -> str:
    """One line for people: time, kind, then what matters for that kind."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.at)) + f".{int(event.at % 1 * 1000):03d}"
    kind = f"{event.event_type:<16}"
    if rich:
        kind = f"[{_STYLE.get(event.event_type, 'magenta')}]{kind}[/]"
    if event.event_type.startswith("worker_"):
        detail = (
            f"{event.worker_id} on {event.host} pid {event.pid} "
            f"queues {','.join(event.queues or ())} active {event.active}/{event.concurrency}"
        )
    else:
        detail = f"{event.task} {event.task_id} queue {event.queue}"
        if event.attempt:
            detail += f" attempt {event.attempt}"
            detail += f"/{event.max_attempts}" if event.max_attempts else ""
        if event.duration_ms is not None:
            detail += f" {event.duration_ms:.1f}ms"
        if event.progress is not None:
            detail += f" {event.progress:.0%}" + (f" {event.meta}" if event.meta else "")
        if event.error:
            detail += f" {event.error}"
    if rich:
        from rich.markup import escape

        detail = escape(detail)
    return f"{clock} {kind} {detail}"


def _split(text: str | None) -> list[str] | None:
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    return items or None
