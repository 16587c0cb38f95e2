"""The worker that ``python -m benchmarks.startup --steps`` launches: ``python -m
asynctasq worker`` itself, which also writes when each start-up step ended (epoch
seconds, one ``step time`` line each) to the file named by $STARTUP_STEPS at exit.

    python -m benchmarks.startup_steps worker --queues q --import benchmarks.tasks

The steps are read by wrapping the worker's own methods from outside: nothing in the
package knows it is being timed.
"""

from __future__ import annotations

import time

MARKS: list[tuple[str, float]] = [("interpreter up", time.time())]

import atexit  # noqa: E402
import functools  # noqa: E402
import os  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

from asynctasq import early_gc, early_signals  # noqa: E402

early_signals.install()  # as asynctasq/__main__.py does, before the heavier imports
early_gc.pause()

import asynctasq.cli.serve  # noqa: E402  (timed with the command's import)
import asynctasq.cli.worker  # noqa: E402, F401
from asynctasq.cli.main import main  # noqa: E402
from asynctasq.core.worker import lease, worker  # noqa: E402
from asynctasq.core.worker.claim import Claims  # noqa: E402

MARKS.append(("worker command imported", time.time()))


def _mark(step: str) -> None:
    if step not in {name for name, _ in MARKS}:  # the first time only
        MARKS.append((step, time.time()))


def _after(owner: Any, method: str, step: str) -> None:
    """Mark ``step`` when ``owner.method`` (a coroutine function) first returns."""
    original: Callable[..., Awaitable[Any]] = getattr(owner, method)

    @functools.wraps(original)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        _mark(step)
        return result

    setattr(owner, method, timed)


def _write() -> None:
    with open(os.environ["STARTUP_STEPS"], "w") as f:
        f.writelines(f"{step}\t{at:.6f}\n" for step, at in MARKS)


_built = worker.Worker.__init__


def _init(self: worker.Worker, *args: Any, **kwargs: Any) -> None:
    _mark("event loop running")
    _built(self, *args, **kwargs)
    _mark("worker built (its driver imported)")
    _after(self.driver, "connect", "connected")


worker.Worker.__init__ = _init  # type: ignore[method-assign]
_after(lease.LeaseKeeper, "beat", "first heartbeat written")
_after(lease.LeaseKeeper, "recover", "first recovery sweep done")
_after(Claims, "claim", "first claim answered")
atexit.register(_write)
raise SystemExit(main())
