"""``@task``: a function becomes a task class with the same API, plus the
AsyncMQ-style helpers on it (``enqueue``, and ``delay`` as its alias).

@task(queue="emails", retries=3)
async def send_email(to: str, subject: str) -> None: ...

job_id = await send_email.enqueue("a@b.c", subject="hi")   # AsyncMQ spelling
job_id = await send_email(to="a@b.c", subject="hi").dispatch()   # the class API

Calling the decorated function builds a task (it does not run the body: that is
where we differ from AsyncMQ, see docs/asyncmq-users.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import json
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

from asynctasq.checks import check_seconds
from asynctasq.errors import TaskDefinitionError
from asynctasq.tasks.base import BaseTask, TaskConfig, _check_argument_names
from asynctasq.tasks.dispatching import dispatcher_for
from asynctasq.tasks.kinds import AsyncProcessTask, AsyncTask, SyncProcessTask, SyncTask
from asynctasq.tasks.progress import ProgressCallback
from asynctasq.tasks.retry import RetryDelay

__all__ = ["FunctionTask", "repeat_schedule_id", "task"]

PROGRESS_PARAMETER = "report_progress"
#: parameters a function declares to receive what its parents returned (workflows):
#: each gets the task property of that name (docs/workflows.md); never sent with a job
PARENT_PARAMETERS = ("parent_results", "previous_result")


class _EnqueueOrBuilder:
    """``delay`` of a decorated function: read on the function (the class) it is
    AsyncMQ's alias of ``enqueue``; read on a task built from it, the builder
    ``BaseTask.delay(seconds)``."""

    def __get__(self, task: BaseTask[Any] | None, owner: type[FunctionTask]) -> Any:
        if task is None:
            return owner.enqueue
        return BaseTask.delay.__get__(task, owner)


class FunctionTask:
    """Mixin of the classes @task builds: execute() calls the function."""

    function: Callable[..., Any]
    #: the function declares ``report_progress`` and asked for it (progress=True)
    injects_progress: bool = False
    #: the ``progress=`` the decorator was given (TASK_REGISTRY shows it)
    progress: bool = False
    _args: dict[str, Any]

    delay = _EnqueueOrBuilder()

    #: the PARENT_PARAMETERS the function declares
    injects_parents: tuple[str, ...] = ()

    def _call(self, **extra: Any) -> Any:
        for name in type(self).injects_parents:  # the task properties of those names
            extra[name] = getattr(self, name)
        return type(self).function(**self._args, **extra)

    def __getattr__(self, name: str) -> Any:
        """The function's arguments read as attributes (``lambda t: t.customer_id``)."""
        args = self.__dict__.get("_args")
        if args is not None and name in args and not name.startswith("_"):
            return args[name]
        raise AttributeError(f"{type(self).__qualname__!r} task has no attribute {name!r}")

    @classmethod
    async def enqueue(
        cls,
        *args: Any,
        backend: Any = None,
        delay: float | dt.timedelta | dt.datetime | None = None,
        priority: int | None = None,
        depends_on: Iterable[str] | None = None,
        repeat_every: float | None = None,
        **kwargs: Any,
    ) -> str:
        """Send a job that runs the function with these arguments; its id.

        ``backend``: a driver or a broker URL (default: the configured broker);
        ``delay``: seconds (or a datetime) before it runs; ``priority``: lower runs
        first; ``depends_on``: ids of jobs that must complete first;
        ``repeat_every``: seconds: besides this job, a schedule stored in the broker
        runs the function with these arguments every ``repeat_every`` seconds (every
        worker fires each slot once, docs/scheduling.md; its id is
        ``repeat_schedule_id``, and enqueueing the same repeat again keeps it)."""
        task = typing.cast(BaseTask[Any], cls(*args, **kwargs))  # a BaseTask subclass
        if repeat_every is not None and depends_on is not None:
            raise TypeError(
                "enqueue(repeat_every=..., depends_on=...): a repeat cannot wait for the "
                "parents of one job; enqueue the repeat without depends_on"
            )
        if delay is not None:
            BaseTask.delay(task, delay)
        if priority is not None:
            task.with_options(priority=priority)
        if depends_on is not None:
            task.with_options(depends_on=depends_on)
        if repeat_every is not None:
            from asynctasq import _schedule  # the front door: the scheduler sits above tasks

            every = check_seconds("repeat_every", repeat_every, positive=True)
            await _schedule(task, backend, every=every, schedule_id=repeat_schedule_id(task, every))
        dispatcher = await dispatcher_for(backend)
        return await dispatcher.dispatch(task)

    @classmethod
    async def schedule(
        cls,
        *,
        cron: str | None = None,
        every: float | None = None,
        timezone: str = "UTC",
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        missed: str = "skip",
        backend: Any = None,
    ) -> str:
        """Store a schedule running the function with these arguments on ``cron``
        (in ``timezone``) or ``every`` seconds; its id (default: the task's name).
        Running workers fire it, each slot once (docs/scheduling.md)."""
        task = typing.cast(BaseTask[Any], cls(*args, **dict(kwargs or {})))
        from asynctasq import _schedule  # the front door: the scheduler sits above tasks

        return await _schedule(
            task, backend, cron=cron, every=every, timezone=timezone, missed=missed,
            schedule_id=id,
        )  # fmt: skip


def repeat_schedule_id(task: BaseTask[Any], every: float) -> str:
    """The schedule ``enqueue(..., repeat_every=every)`` stores for ``task``: the same
    for the same task, arguments and interval, so enqueueing it again (each time an
    app starts) keeps one schedule and its next slot."""
    arguments = json.dumps(task._args, sort_keys=True, default=repr).encode()
    digest = hashlib.sha256(arguments).hexdigest()[:12]
    return f"{type(task).task_name}:every-{every:g}s:{digest}"


def _job_signature(fn: Callable[..., Any], progress: bool) -> inspect.Signature:
    """The function's parameters that travel with a job (not ``report_progress``)."""
    signature = inspect.signature(fn)
    kinds = {p.kind for p in signature.parameters.values()}
    if kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY}:
        raise TypeError(
            f"@task {fn.__qualname__}: *args and positional-only parameters cannot travel "
            "with a job; give every parameter a name"
        )
    params = dict(signature.parameters)
    if PROGRESS_PARAMETER in params:
        if not progress:
            raise TaskDefinitionError(
                f"@task {fn.__qualname__} declares {PROGRESS_PARAMETER!r}: write "
                f"@task(progress=True) to receive the {PROGRESS_PARAMETER}(fraction, data=None) "
                "callable there"
            )
        del params[PROGRESS_PARAMETER]
    for name in PARENT_PARAMETERS:  # filled by the worker (FunctionTask._call)
        params.pop(name, None)
    _check_argument_names(fn.__qualname__, params)
    return signature.replace(parameters=list(params.values()))


def _make_class(
    fn: Callable[..., Any], process: bool, name: str | None, config: TaskConfig, progress: bool
) -> type:
    is_async = inspect.iscoroutinefunction(fn)
    base: type[BaseTask[Any]]
    if process:
        base = AsyncProcessTask if is_async else SyncProcessTask
    else:
        base = AsyncTask if is_async else SyncTask
    signature = _job_signature(fn, progress)
    declared = inspect.signature(fn).parameters
    injects = progress and PROGRESS_PARAMETER in declared

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        signature.bind(*args, **kwargs)  # a wrong call fails here, not in the worker

    async def execute_async(self: Any) -> Any:
        if not injects:
            return await self._call()
        callback = ProgressCallback(self)
        try:
            return await self._call(**{PROGRESS_PARAMETER: callback})
        finally:
            await callback.flush()

    def execute_sync(self: Any) -> Any:
        if not injects:
            return self._call()
        return self._call(**{PROGRESS_PARAMETER: ProgressCallback(self)})

    __init__.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
            *signature.parameters.values(),
        ]
    )
    parents = tuple(name for name in PARENT_PARAMETERS if name in declared)
    namespace = {
        "__init__": __init__,
        "execute": execute_async if is_async else execute_sync,
        "function": staticmethod(fn),
        "injects_progress": injects,
        "injects_parents": parents,
        # a function that declares them gets them read (tasks/parent_use.py)
        "reads_parent_results": True if parents else None,
        "progress": progress,
        "config": config,
        "__module__": fn.__module__,
        "__qualname__": fn.__qualname__,
        "__doc__": fn.__doc__,
    }
    cls = type(fn.__name__, (FunctionTask, base), namespace, name=name)
    functools.update_wrapper(
        cls, fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=()
    )
    return cls


@overload
def task(fn: Callable[..., Any], /) -> Any: ...


@overload
def task(
    *,
    name: str | None = None,
    queue: str | None = None,
    retries: int | None = None,
    max_retries: int | None = None,
    max_attempts: int | None = None,
    retry_delay: RetryDelay | dt.timedelta | None = None,
    timeout: float | dt.timedelta | None = None,
    priority: int | None = None,
    visibility_timeout: float | dt.timedelta | None = None,
    progress: bool = False,
    process: bool = False,
    cron: str | None = None,
    repeat_every: float | None = None,
    timezone: str | None = None,
    ttl: float | dt.timedelta | None = None,
    rate_limit: int | None = None,
    rate_interval: float | None = None,
    rate_limit_key: Callable[[Any], Any] | None = None,
    rate_burst: int | None = None,
    unique_key: str | Callable[[Any], str] | None = None,
    unique_mode: str | None = None,
    unique_for: float | dt.timedelta | None = None,
    concurrency_key: str | Callable[[Any], str] | None = None,
    max_concurrency: int | None = None,
) -> Callable[[Callable[..., Any]], Any]: ...


def task(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    queue: str | None = None,
    retries: int | None = None,
    max_retries: int | None = None,
    max_attempts: int | None = None,
    retry_delay: RetryDelay | dt.timedelta | None = None,
    timeout: float | dt.timedelta | None = None,
    priority: int | None = None,
    visibility_timeout: float | dt.timedelta | None = None,
    progress: bool = False,
    process: bool = False,
    cron: str | None = None,
    repeat_every: float | None = None,
    timezone: str | None = None,
    ttl: float | dt.timedelta | None = None,
    rate_limit: int | None = None,
    rate_interval: float | None = None,
    rate_limit_key: Callable[[Any], Any] | None = None,
    rate_burst: int | None = None,
    unique_key: str | Callable[[Any], str] | None = None,
    unique_mode: str | None = None,
    unique_for: float | dt.timedelta | None = None,
    concurrency_key: str | Callable[[Any], str] | None = None,
    max_concurrency: int | None = None,
) -> Any:
    """Turn a function (sync or async) into a task class; calling the result builds a
    task (``f(...).dispatch()``), ``await f.enqueue(...)`` sends a job at once.

    ``retries`` (or its synonym ``max_retries``): retries after the first attempt;
    ``max_attempts``: attempts in all (give one of the three). ``progress=True``:
    a ``report_progress`` parameter of the function receives the callable
    ``report_progress(fraction, data=None)``. A ``parent_results`` or
    ``previous_result`` parameter receives what the job's parents returned, as the
    task properties of those names (docs/workflows.md). ``process=True``: runs in the process
    pool. ``cron=`` or ``repeat_every=`` (seconds) make it a repeatable task: every
    worker serving its queue fires it, each slot once (docs/scheduling.md). ``ttl=``
    (seconds): a job not started within ``ttl`` of coming due expires instead of
    running (docs/flow-control.md). ``rate_limit=`` starts per ``rate_interval=``
    seconds (default 1), held across every worker (docs/flow-control.md);
    ``rate_limit_key=`` (given the task, whose attributes are the function's
    arguments) makes it a limit per key, each key its own bucket; ``rate_burst=``
    the most starts at once (default: the limit).
    ``unique_key=`` (text, or a function of the task instance), ``unique_mode=`` and
    ``unique_for=``: deduplication; ``concurrency_key=`` (text, or a function of the
    task instance) and ``max_concurrency=``: at most that many jobs of one key
    running at once across every worker (docs/flow-control.md). The other
    options are those of ``TaskConfig``."""
    if retries is not None and max_retries is not None:
        raise TaskDefinitionError("@task: give retries= or max_retries= (synonyms), not both")
    given = {
        "queue": queue,
        "max_retries": max_retries if retries is None else retries,
        "max_attempts": max_attempts,
        "retry_delay": retry_delay,
        "timeout": timeout,
        "priority": priority,
        "visibility_timeout": visibility_timeout,
        "cron": cron,
        "repeat_every": repeat_every,
        "timezone": timezone,
        "ttl": ttl,
        "rate_limit": rate_limit,
        "rate_interval": rate_interval,
        "rate_limit_key": rate_limit_key,
        "rate_burst": rate_burst,
        "unique_key": unique_key,
        "unique_mode": unique_mode,
        "unique_for": unique_for,
        "concurrency_key": concurrency_key,
        "max_concurrency": max_concurrency,
    }
    config: TaskConfig = {k: v for k, v in given.items() if v is not None}  # type: ignore[assignment]

    def decorate(function: Callable[..., Any]) -> Any:
        return _make_class(function, process, name, config, progress)

    return decorate(fn) if fn is not None else decorate
