"""The worker process of ``asynctasq worker`` (``--processes 1``, or a child of the
supervisor): what a worker loads, imported only here (see worker.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from asynctasq.cli.health_file import HealthFile
from asynctasq.cli.processes import SUPERVISOR_ENV
from asynctasq.config import Config
from asynctasq.core.events import CompositeEmitter, create_event_emitter
from asynctasq.core.metrics import worker_metrics
from asynctasq.core.worker import Worker
from asynctasq.core.worker.setup_hook import setup_hook
from asynctasq.drivers.base import DriverError
from asynctasq.redaction import redact

__all__ = ["serve"]


def serve(config: Config, args: argparse.Namespace) -> int:
    """Run one worker until it stops; its exit code."""
    # the console script does not put the working directory on sys.path as `python -m`
    # does; --import myapp.tasks should work the same from both
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    supervisor = os.environ.get(SUPERVISOR_ENV) or None
    horizon = args.burst_horizon if args.burst else None
    main = _serve(config, args.worker_id, args.burst, supervisor, args.health_file, horizon)
    try:
        return _run_loop(main)
    except DriverError as exc:  # the broker is down or refuses us: its message says so
        if args.verbose:
            raise
        print(redact(f"asynctasq worker: {exc} (--verbose shows the traceback)"), file=sys.stderr)
        return 1


async def _serve(
    config: Config,
    worker_id: str | None,
    burst: bool,
    supervisor: str | None = None,
    health_file: str | None = None,
    burst_horizon: float | None = None,
) -> int:
    emitter = create_event_emitter(config)
    if health_file:
        emitter = CompositeEmitter([emitter, HealthFile(health_file)])
    try:
        # with --metrics-port, the Prometheus exporter listens to the events too; the
        # app's own set-up (--setup) is done before the first job and undone after the last
        async with setup_hook(config.setup), worker_metrics(config, emitter) as events:
            worker = Worker(
                event_emitter=events,
                worker_id=worker_id,
                burst=burst,
                burst_horizon=burst_horizon,
                config=config,
                supervisor=supervisor,
            )
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
