"""``@task``: a function becomes a task class with the same API.

@task(queue="emails", max_attempts=5)
async def send_email(to: str, subject: str) -> None: ...

await send_email(to="a@b.c", subject="hi").dispatch()
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, overload

from asynctasq.tasks.base import BaseTask, TaskConfig, _check_argument_names
from asynctasq.tasks.kinds import AsyncProcessTask, AsyncTask, SyncProcessTask, SyncTask
from asynctasq.tasks.retry import RetryDelay

__all__ = ["FunctionTask", "task"]


class FunctionTask:
    """Mixin of the classes @task builds: execute() calls the function."""

    function: Callable[..., Any]
    _args: dict[str, Any]

    def _call(self) -> Any:
        return type(self).function(**self._args)


def _make_class(
    fn: Callable[..., Any], process: bool, name: str | None, config: TaskConfig
) -> type:
    is_async = inspect.iscoroutinefunction(fn)
    base: type[BaseTask[Any]]
    if process:
        base = AsyncProcessTask if is_async else SyncProcessTask
    else:
        base = AsyncTask if is_async else SyncTask
    signature = inspect.signature(fn)
    kinds = {p.kind for p in signature.parameters.values()}
    if kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY}:
        raise TypeError(
            f"@task {fn.__qualname__}: *args and positional-only parameters cannot travel "
            "with a job; give every parameter a name"
        )
    _check_argument_names(fn.__qualname__, signature.parameters)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        signature.bind(*args, **kwargs)  # a wrong call fails here, not in the worker

    async def execute_async(self: Any) -> Any:
        return await self._call()

    def execute_sync(self: Any) -> Any:
        return self._call()

    __init__.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
            *signature.parameters.values(),
        ]
    )
    namespace = {
        "__init__": __init__,
        "execute": execute_async if is_async else execute_sync,
        "function": staticmethod(fn),
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
    max_attempts: int | None = None,
    retry_delay: RetryDelay | None = None,
    timeout: float | None = None,
    priority: int | None = None,
    process: bool = False,
) -> Callable[[Callable[..., Any]], Any]: ...


def task(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    queue: str | None = None,
    max_attempts: int | None = None,
    retry_delay: RetryDelay | None = None,
    timeout: float | None = None,
    priority: int | None = None,
    process: bool = False,
) -> Any:
    """Turn a function (sync or async) into a task class; ``process=True`` runs it in
    the process pool. Calling the result builds a task: ``f(...).dispatch()``."""
    given = {
        "queue": queue,
        "max_attempts": max_attempts,
        "retry_delay": retry_delay,
        "timeout": timeout,
        "priority": priority,
    }
    config: TaskConfig = {k: v for k, v in given.items() if v is not None}  # type: ignore[assignment]

    def decorate(function: Callable[..., Any]) -> Any:
        return _make_class(function, process, name, config)

    return decorate(fn) if fn is not None else decorate
