"""``asynctasq worker``: run a worker until SIGTERM/SIGINT (or, with --burst, until
its queues are empty)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from asynctasq.cli.options import add_setting, config_from_args
from asynctasq.config import Config
from asynctasq.core.events import create_event_emitter
from asynctasq.core.logs import configure_logging
from asynctasq.core.metrics import worker_metrics
from asynctasq.core.worker import Worker

__all__ = ["add_parser", "run"]

log = logging.getLogger("asynctasq.worker")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "worker",
        help="run a worker",
        description="Run a worker: reserve jobs from the queues, run them, report outcomes. "
        "SIGTERM or Ctrl-C stops it gracefully; a second one stops it at once (jobs in flight go "
        "back to the queue).",
    )
    add_setting(parser, "--queues", "queues", metavar="Q1,Q2", help="Queues to serve, in order")
    add_setting(parser, "--concurrency", "concurrency", metavar="N")
    add_setting(parser, "--prefetch", "prefetch", metavar="N")
    add_setting(parser, "--import", "task_modules", metavar="MODULES")
    add_setting(parser, "--driver", "driver", metavar="NAME")
    add_setting(parser, "--lease-seconds", "lease_seconds", metavar="S")
    add_setting(parser, "--heartbeat-interval", "heartbeat_interval", metavar="S")
    add_setting(parser, "--shutdown-timeout", "shutdown_timeout", metavar="S")
    add_setting(parser, "--process-pool-size", "process_pool_size", metavar="N")
    add_setting(parser, "--max-tasks-per-child", "process_pool_max_tasks_per_child", metavar="N")
    add_setting(parser, "--log-level", "log_level", metavar="LEVEL")
    add_setting(parser, "--log-format", "log_format", metavar="FORMAT")
    add_setting(parser, "--metrics-port", "metrics_port", metavar="PORT")
    parser.add_argument("--worker-id", help="name of this worker (default: host:pid:random)")
    parser.add_argument(
        "--burst",
        action="store_true",
        help="exit 0 once no job is pending, scheduled or running in the queues (scripts, cron)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    configure_logging(config.log_level, config.log_format)
    # the console script does not put the working directory on sys.path as `python -m`
    # does; --import myapp.tasks should work the same from both
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return _run_loop(_serve(config, args.worker_id, args.burst))


async def _serve(config: Config, worker_id: str | None, burst: bool) -> int:
    emitter = create_event_emitter(config)
    try:
        # with --metrics-port, the Prometheus exporter listens to the events too
        async with worker_metrics(config, emitter) as events:
            worker = Worker(event_emitter=events, worker_id=worker_id, burst=burst, config=config)
            await worker.start()
    finally:
        await emitter.close()
    return 0


def _run_loop(main: object) -> int:
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result: int = runner.run(main)  # type: ignore[arg-type]
        return result
