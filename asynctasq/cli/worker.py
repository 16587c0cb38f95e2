"""``asynctasq worker``: run a worker until SIGTERM/SIGINT (or, with --burst, until
its queues are empty). The worker itself is serve.py, imported only when this process
is the worker: the supervisor of ``--processes N`` starts its workers without loading
what they load (about 80 ms before they could start)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from asynctasq import early_gc
from asynctasq.cli.options import add_setting, config_from_args
from asynctasq.cli.processes import processes_wanted
from asynctasq.config import Config, ConfigError
from asynctasq.core.driver_registry import find_driver, shared_across_processes
from asynctasq.core.logs import configure_logging

__all__ = ["add_parser", "run"]

log = logging.getLogger("asynctasq.worker")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "worker",
        help="run a worker (`worker list`: the workers running)",
        description="Run a worker: reserve jobs from the queues, run them, report outcomes. "
        "SIGTERM or Ctrl-C stops it gracefully; a second one stops it at once (jobs in flight go "
        "back to the queue).",
    )
    add_setting(parser, "--queues", "queues", metavar="Q1,Q2", help="Queues to serve, in order")
    add_setting(parser, "--concurrency", "concurrency", metavar="N")
    add_setting(parser, "--prefetch", "prefetch", metavar="N")
    add_setting(parser, "--import", "task_modules", metavar="MODULES")
    add_setting(parser, "--middleware", "middleware", metavar="MOD:FACTORY,...")
    add_setting(parser, "--setup", "setup", metavar="MOD:FUNCTION")
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
        "--processes",
        default="1",
        metavar="N",
        help="run N worker processes under one supervisor, each with its own connections "
        "(auto: one per core); it restarts a crashed one and passes SIGTERM/SIGINT on "
        "[default: 1]",
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="exit 0 once no job is pending, scheduled or running in the queues (scripts, cron)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="on a broker that cannot be reached, the full traceback instead of one line",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no line per job started and completed (failures and retries are still logged)",
    )
    parser.add_argument(
        "--burst-horizon",
        type=float,
        default=5.0,
        metavar="S",
        help="with --burst: leave jobs scheduled more than S seconds ahead for a later "
        "worker instead of waiting for them [default: 5]",
    )
    parser.add_argument(
        "--health-file",
        metavar="PATH",
        help="rewrite PATH at every heartbeat and remove it on exit, for an exec probe: "
        "`asynctasq health --file PATH --max-age S` (no broker round trip)",
    )
    parser.set_defaults(handler=run, keeps_early_signals=True)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    configure_logging(config.log_level, config.log_format)
    if args.quiet:
        logging.getLogger("asynctasq.jobs").setLevel(logging.WARNING)
    try:
        processes = processes_wanted(args.processes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if processes > 1:
        return _supervise(config, args, processes)
    from asynctasq.cli.serve import serve  # (not with --processes: see serve.py)

    return serve(config, args)


def _supervise(config: Config, args: argparse.Namespace, processes: int) -> int:
    # (the driver is not imported: the workers are, each in its own process)
    if not shared_across_processes(find_driver(config.driver)):
        raise ConfigError(
            f"--processes {processes}: the {config.driver} broker lives inside one process; "
            "use a broker the processes can share (sqlite, redis, postgres, mysql)"
        )
    if args.worker_id:
        raise ConfigError("--worker-id names one worker: leave it out with --processes")
    from asynctasq.cli.supervisor import Supervisor  # only with --processes

    early_gc.resume()  # the supervisor is no worker: its start-up ends here

    argv = getattr(args, "argv", None) or sys.argv[1:]
    return asyncio.run(Supervisor(argv, processes, burst=args.burst).run())
