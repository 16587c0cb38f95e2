"""Where a task's body runs: the event loop, a thread pool or a process pool.

Timeouts hold in every mode, each in the only way its mode allows: a coroutine is
cancelled; a pool process is killed and replaced; a thread cannot be killed, so
its job is failed on time and the thread is left to finish in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from asynctasq.core.events.progress import forward_progress
from asynctasq.core.worker.threads import ThreadPool, ThreadTimeout
from asynctasq.errors import TaskTimeoutError
from asynctasq.jobs import Job
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.registry import registry

if TYPE_CHECKING:
    from asynctasq.core.worker.process_pool import ProcessPool

__all__ = ["Executors", "exit_refused"]


class Executors:
    def __init__(
        self,
        *,
        thread_pool_size: int,
        process_pool_size: int | None = None,
        max_tasks_per_child: int | None = None,
        task_modules: Iterable[str] = (),
    ) -> None:
        self.threads = ThreadPool(thread_pool_size)
        self._process_args = (process_pool_size, max_tasks_per_child, list(task_modules))
        self._processes: ProcessPool | None = None

    @property
    def processes(self) -> ProcessPool:
        """Started on the first process job: a worker with none never forks."""
        if self._processes is None:
            size, per_child, modules = self._process_args
            # the pool imports what defines the process tasks registered here, so
            # its processes know them too (module names from our own registry,
            # never from a payload)
            defining = {
                cls.__module__
                for name in registry
                if (cls := registry.get(name)).executor == "process"
                and cls.__module__ != "__main__"
            }
            # lazy: multiprocessing loads only in a worker that runs process tasks
            from asynctasq.core.worker.process_pool import ProcessPool

            self._processes = ProcessPool(
                size, max_tasks_per_child=per_child, modules=[*modules, *sorted(defining)]
            )
        return self._processes

    def warm_up(self) -> asyncio.Task[None] | None:
        """Start the process pool in the background when the worker's own task modules
        define process tasks, so their first job does not wait for process start-up."""
        modules = self._process_args[2]
        wanted = any(
            cls.executor == "process"
            and any(cls.__module__ == m or cls.__module__.startswith(m + ".") for m in modules)
            for cls in (registry.get(name) for name in registry)
        )
        if not wanted:
            return None
        return asyncio.create_task(self.processes.warm_up(), name="asynctasq-pool-warm-up")

    async def run(
        self,
        task: BaseTask[Any],
        job: Job,
        *,
        timeout: float | None,
        parents: dict[str, Any] | None = None,
    ) -> Any:
        """The body's result; ``timeout`` seconds from the moment the body starts (a
        job waiting for a thread or a pool process is not running yet). ``parents``:
        the job's ``read_parents`` record, for a process task (the pool process
        rebuilds the task and its ``parent_results`` from it)."""
        try:
            if timeout is None and type(task).executor == "async":
                return await task.execute()  # the common case, without two more frames
            return await self._run(task, job, timeout, parents)
        except SystemExit as exc:
            raise exit_refused(exc) from exc
        except KeyboardInterrupt as exc:
            if type(task).executor == "async":
                raise  # Ctrl-C on an embedded worker's loop: the user's to handle
            raise RuntimeError("the task raised KeyboardInterrupt") from exc

    async def _run(
        self, task: BaseTask[Any], job: Job, timeout: float | None, parents: dict[str, Any] | None
    ) -> Any:
        match type(task).executor:
            case "async":
                return await _with_timeout(task.execute(), timeout)
            case "thread":
                try:
                    return await self.threads.run(task.execute, timeout=timeout)
                except ThreadTimeout:
                    raise TaskTimeoutError(
                        f"job exceeded its timeout of {timeout}s; its thread was left to finish"
                    ) from None
            case "process":
                return await self.processes.run(
                    job.task,
                    job.payload,
                    timeout,
                    on_progress=forward_progress(task),
                    parents=parents,
                )
            case other:
                raise TypeError(f"unknown executor {other!r}")

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        return await self.threads.run(fn, *args)

    async def close(self, *, kill: bool = False) -> None:
        # abandoned threads (timed out SyncTasks) are not waited for
        self.threads.close()
        if self._processes is not None:
            await self._processes.close(kill=kill)


def exit_refused(exc: SystemExit) -> RuntimeError:
    """What a task's sys.exit() becomes: a failed attempt. sys.exit() in a task (a CLI
    entry point reused as a task...) ends that attempt, never the worker: a worker exit
    would release the job to crash the next worker, forever."""
    return RuntimeError(f"the task called sys.exit({exc.code!r}); a task cannot stop its worker")


async def _with_timeout(awaitable: Any, timeout: float | None) -> Any:
    if timeout is None:
        return await awaitable
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await awaitable
    except TimeoutError:
        if deadline.expired():
            raise TaskTimeoutError(f"job exceeded its timeout of {timeout}s") from None
        raise  # the body's own TimeoutError (a client's), not ours
