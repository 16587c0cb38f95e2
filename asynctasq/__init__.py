"""asynctasq: an async-first, class-based background task queue.

from asynctasq import AsyncTask

class SendEmail(AsyncTask[None]):
    to: str

    async def execute(self) -> None: ...

job_id = await SendEmail(to="a@b.c").on_queue("emails").delay(5).dispatch()

Importing the package costs next to nothing: each public name is imported from
its module the first time it is used (PEP 562), so a web app that only dispatches
never loads the worker, and a worker starts faster.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from asynctasq.core.logs_redaction import install_log_redaction

if TYPE_CHECKING:  # what the names below are, for type checkers and IDEs
    from asynctasq.config import Config, ConfigError, Settings, get_global_config, set_global_config
    from asynctasq.core.dispatcher import Dispatcher, dispatch_many
    from asynctasq.core.driver_factory import DriverFactory
    from asynctasq.core.worker import Worker
    from asynctasq.errors import (
        AsyncTasqError,
        LeaseExpiredError,
        PermanentError,
        PoisonJobError,
        ProcessCrashedError,
        TaskDefinitionError,
        TaskTimeoutError,
        UnknownTaskError,
    )
    from asynctasq.jobs import Job, JobState, QueueStats, Recovery, WorkerInfo
    from asynctasq.serialization import TypeHook, register_hook
    from asynctasq.tasks import (
        AsyncProcessTask,
        AsyncTask,
        Backoff,
        BaseTask,
        SyncProcessTask,
        SyncTask,
        TaskConfig,
        task,
    )
    from asynctasq.tasks.dispatching import TaskDispatcher

__version__ = "0.1.0"

install_log_redaction()  # before anything of ours logs: no secret in any record

#: public name -> the module that defines it
_WHERE = {
    **dict.fromkeys(
        ("Config", "ConfigError", "Settings", "get_global_config", "set_global_config"),
        "asynctasq.config",
    ),
    **dict.fromkeys(("Dispatcher", "dispatch_many"), "asynctasq.core.dispatcher"),
    "DriverFactory": "asynctasq.core.driver_factory",
    "Worker": "asynctasq.core.worker",
    **dict.fromkeys(
        (
            "AsyncTasqError",
            "LeaseExpiredError",
            "PermanentError",
            "PoisonJobError",
            "ProcessCrashedError",
            "TaskDefinitionError",
            "TaskTimeoutError",
            "UnknownTaskError",
        ),
        "asynctasq.errors",
    ),
    **dict.fromkeys(("Job", "JobState", "QueueStats", "Recovery", "WorkerInfo"), "asynctasq.jobs"),
    **dict.fromkeys(("TypeHook", "register_hook"), "asynctasq.serialization"),
    **dict.fromkeys(
        (
            "AsyncProcessTask",
            "AsyncTask",
            "Backoff",
            "BaseTask",
            "SyncProcessTask",
            "SyncTask",
            "TaskConfig",
            "task",
        ),
        "asynctasq.tasks",
    ),
}

__all__ = [
    "AsyncProcessTask",
    "AsyncTask",
    "AsyncTasqError",
    "Backoff",
    "BaseTask",
    "Config",
    "ConfigError",
    "Dispatcher",
    "DriverFactory",
    "Job",
    "JobState",
    "LeaseExpiredError",
    "PermanentError",
    "PoisonJobError",
    "ProcessCrashedError",
    "QueueStats",
    "Recovery",
    "Settings",
    "SyncProcessTask",
    "SyncTask",
    "TaskConfig",
    "TaskDefinitionError",
    "TaskTimeoutError",
    "TypeHook",
    "UnknownTaskError",
    "Worker",
    "WorkerInfo",
    "__version__",
    "aclose",
    "dispatch_many",
    "get_global_config",
    "lifespan",
    "register_hook",
    "set_global_config",
    "task",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then cached here)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'asynctasq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


async def _default_dispatcher() -> TaskDispatcher:
    """The default dispatcher of the running loop, for ``BaseTask.dispatch()``: tasks
    sit below the dispatcher, so they reach it through the package's front door,
    which imports it on first use."""
    # lazy: a process that never dispatches never loads the dispatcher
    from asynctasq.core.dispatcher import get_dispatcher

    return await get_dispatcher()


async def _dispatcher_for(backend: Any) -> TaskDispatcher:
    """A dispatcher sending to ``backend`` (a driver or a broker URL), for
    ``enqueue(backend=...)`` of a decorated function (tasks sit below the drivers)."""
    # lazy: drivers load only when a backend is named
    from asynctasq.core.backends import dispatcher_for

    return await dispatcher_for(backend)


async def _await_result(job_id: str, backend: Any, timeout: float | None) -> Any:
    """``JobHandle.result()``: wait for a job's result (tasks sit below the results)."""
    # lazy: only a process that waits for results loads them
    from asynctasq.core.results import get

    return await get(job_id, timeout=timeout, backend=backend)


async def _schedule(task: Any, backend: Any, **options: Any) -> str:
    """Store a schedule of ``task``, for ``schedule()`` of a decorated function (tasks
    sit below the scheduler)."""
    # lazy: only a process that defines schedules loads the scheduler
    from asynctasq.core.scheduling.tasks import schedule_task

    return await schedule_task(task, backend=backend, **options)


async def aclose() -> None:
    """Close what dispatching opened on the running event loop: the default
    dispatcher (its buffered events are sent first, then its connections closed) and
    the brokers opened from URLs (``backend="redis://..."``). Dispatching again
    reopens them. ``asyncio.run()`` does this by itself when it ends."""
    # lazy: a process that never dispatched has nothing to close
    from asynctasq.core.backends import close_backends
    from asynctasq.core.dispatcher import close_dispatcher

    await close_dispatcher()
    await close_backends()


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """``async with asynctasq.lifespan():`` closes what dispatching opened when the
    block ends (``aclose()``): for an ASGI app's lifespan, or a script's main()."""
    try:
        yield
    finally:
        await aclose()
