"""What the operator commands (job, queue, dlq, worker list, health) share: the broker
flags, a connected driver, one-line errors, tables, JSON and progress bars."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

from asynctasq.cli.display import Mode, choose_mode, print_json, rich_console
from asynctasq.cli.options import add_setting, config_from_args
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.drivers.base import Driver
from asynctasq.jobs import JobState
from asynctasq.operations import Progress
from asynctasq.redaction import redact

__all__ = [
    "Output",
    "add_broker_options",
    "example",
    "format_age",
    "parse_state",
    "run_operation",
]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def example(*lines: str) -> dict[str, Any]:
    """add_parser() keywords that put example command lines under --help."""
    text = "\n".join(f"  {line}" for line in lines)
    return {"epilog": f"example:\n{text}", "formatter_class": argparse.RawDescriptionHelpFormatter}


def add_broker_options(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    add_setting(parser, "--driver", "driver", metavar="NAME")
    parser.add_argument(
        "--url",
        metavar="URL",
        help="broker URL (redis://, postgresql://, mysql://, sqlite:///file.db, amqp://); "
        "picks the driver and overrides its URL setting [env: the driver's own, e.g. "
        "ASYNCTASQ_REDIS_URL, ASYNCTASQ_POSTGRES_DSN, ASYNCTASQ_SQLITE_PATH]",
    )
    if json:
        parser.add_argument(
            "--json", action="store_true", help="print JSON even at a terminal (always when piped)"
        )


def parse_state(text: str) -> JobState:
    try:
        return JobState(text.lower())
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise argparse.ArgumentTypeError(
            f"unknown state {text!r}: use one of {names} (or waiting, delayed, dead)"
        ) from None


@asynccontextmanager
async def connected(args: argparse.Namespace) -> AsyncIterator[Driver]:
    config = config_from_args(args)
    url = getattr(args, "url", None)
    driver = (
        DriverFactory.from_url(url, config=config)
        if url
        else DriverFactory.create_from_config(config)
    )
    await driver.connect()
    try:
        yield driver
    finally:
        await driver.disconnect()


def run_operation(
    args: argparse.Namespace, operation: Callable[[Driver, Output], Awaitable[int]]
) -> int:
    """Run ``operation`` on a connected driver; any error is one line on stderr (its
    secrets hidden) and exit status 1."""
    output = Output(choose_mode(getattr(args, "json", False)))

    async def go() -> int:
        async with connected(args) as driver:
            return await operation(driver, output)

    try:
        return asyncio.run(go())
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        output.close_progress()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(redact(f"asynctasq {args.command_name}: {message}"), file=sys.stderr)
        return 1


class Output:
    """Prints for a person (rich or plain tables) or a script (one JSON document)."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self._bar: Any = None
        self._last_line = 0.0

    @property
    def json(self) -> bool:
        return self.mode == "json"

    def data(self, value: Any) -> None:
        print_json(value)

    def line(self, text: str) -> None:
        if self.mode == "rich":
            rich_console().print(text, markup=False)
        else:
            print(text, flush=True)

    def table(self, title: str, headings: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if self.mode == "rich":
            from rich import box  # rich: only at a terminal
            from rich.table import Table

            table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
            for i, heading in enumerate(headings):
                # one line per row: every column as wide as its widest cell, except the
                # free text ones, cut at the terminal's edge (--json has it all)
                widest = max(len(str(row[i])) for row in [headings, *rows])
                free = heading in ("error", "queues")
                table.add_column(
                    heading, no_wrap=True, overflow="ellipsis", min_width=None if free else widest
                )
            for row in rows:
                table.add_row(*row)
            rich_console().print(table)
            return
        print(title)
        widths = [max(len(r[i]) for r in [headings, *rows]) for i in range(len(headings))]
        for row in [headings, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())

    def progress(self, verb: str) -> Progress:
        """A progress callback: a bar on a terminal's stderr, else a line on stderr
        at most every second (and at the end)."""
        if sys.stderr.isatty() and self.mode != "plain":
            try:  # rich is optional (the monitoring extra)
                from rich.console import Console
                from rich.progress import Progress as Bar
            except ImportError:
                pass
            else:
                self._bar = Bar(console=Console(stderr=True), transient=False)
                self._bar.start()
                task = self._bar.add_task(verb, total=None)

                def bar(done: int, total: int) -> None:
                    self._bar.update(task, completed=done, total=total)
                    if done >= total:
                        self.close_progress()

                return bar

        def lines(done: int, total: int) -> None:
            now = time.monotonic()
            if done >= total or now - self._last_line >= 1.0:
                self._last_line = now
                print(f"{verb}: {done}/{total}", file=sys.stderr, flush=True)

        return lines

    def close_progress(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def ago(epoch: float | None) -> str:
    return "-" if not epoch else f"{format_age(time.time() - epoch)} ago"
