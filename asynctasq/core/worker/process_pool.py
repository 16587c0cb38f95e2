"""A process pool that can kill one job: what ``concurrent.futures`` cannot do.

Each child runs one job at a time, talking to the worker over a pipe. A job that
overruns its timeout, or whose ``run`` is cancelled (the job was cancelled while it
ran, docs/flow-control.md), gets its process killed and replaced; a process that dies
(``os._exit``, a signal, the OOM killer) fails only the job it was running; after
``max_tasks_per_child`` jobs a process is retired and replaced. Arguments and results
cross as msgpack bytes; only an exception, when it pickles, crosses as itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterable
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

import msgpack

from asynctasq.errors import ProcessCrashedError, RemoteTaskError, TaskTimeoutError
from asynctasq.serialization.msgpack import default_serializer

__all__ = ["ProcessPool"]

log = logging.getLogger("asynctasq.worker")


#: the first item of a message a pool process sends before its reply
_PROGRESS = 2
#: what a pool process sends once it has imported the task modules
_READY = b"ready"
#: seconds a new pool process may take to start and import the task modules
START_TIMEOUT = 120.0


class _PipeProgress:
    """A task's progress sink in a pool process: a message to the worker, which
    records it (``report_progress`` and ``report_progress_sync`` alike)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def __call__(self, task: Any, progress: float, meta: dict[str, Any]) -> None:
        self.report_blocking(task, progress, meta)

    def report_blocking(self, task: Any, progress: float, meta: dict[str, Any]) -> None:
        try:
            message = msgpack.packb([_PROGRESS, progress, meta], use_bin_type=True)
        except TypeError as exc:
            raise TypeError(f"progress meta must be plain data (msgpack): {exc}") from None
        self.conn.send_bytes(message)


def _child_main(conn: Connection, modules: list[str]) -> None:
    # the worker owns shutdown: Ctrl-C in a terminal must not kill jobs mid-flight
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from asynctasq.config import get_global_config
    from asynctasq.core.results import decode_parents
    from asynctasq.serialization.msgpack import default_serializer, serializer_for
    from asynctasq.serialization.payload import decode_payload
    from asynctasq.serialization.resolve import (
        has_references,
        raise_for_unresolved,
        resolve_references,
    )
    from asynctasq.tasks.registry import import_task_modules, registry

    import_task_modules(modules)
    conn.send_bytes(_READY)
    loop: asyncio.AbstractEventLoop | None = None
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not request:
            return  # retired
        task_name, payload, *rest = msgpack.unpackb(request, raw=False)
        parents = rest[0] if rest else None  # read_parents()'s record, or nothing
        try:
            cls = registry.get(task_name)
            # the worker's payload limits (from the settings the process inherited)
            args, options = decode_payload(payload, serializer_for(get_global_config()))
            if has_references(args):  # ORM rows, fetched fresh by this process
                loop = loop or asyncio.new_event_loop()
                args = loop.run_until_complete(resolve_references(args))
                raise_for_unresolved(args)
            task = cls(**args)
            task._progress_sink = _PipeProgress(conn)
            if "scheduled_for" in options:  # a schedule's job: the slot it covers
                task._options["scheduled_for"] = options["scheduled_for"]
            if parents is not None:  # self.parent_results, decoded here (models fetched here)
                loop = loop or asyncio.new_event_loop()
                serializer = serializer_for(get_global_config())
                task._parent_results = loop.run_until_complete(decode_parents(parents, serializer))
            if getattr(cls, "coroutine", False):
                loop = loop or asyncio.new_event_loop()
                result = loop.run_until_complete(task.execute())
            else:
                result = task.execute()
            reply = [0, default_serializer.dumps(result)]
        except BaseException as exc:
            try:
                pickled: bytes | None = pickle.dumps(exc)
            except Exception:
                pickled = None
            reply = [1, pickled, type(exc).__qualname__, str(exc), traceback.format_exc()]
        conn.send_bytes(msgpack.packb(reply, use_bin_type=True))


class _Child:
    def __init__(self, ctx: BaseContext, modules: list[str]) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.process: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=_child_main, args=(child, modules), daemon=True, name="asynctasq-pool"
        )
        self.process.start()
        child.close()
        self.jobs_run = 0
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Block (off the loop) until the process has imported the task modules, so a
        job's timeout counts from the job's start: on a loaded host the imports alone
        can take longer than a short timeout."""
        try:
            ready = self.conn.poll(START_TIMEOUT) and self.conn.recv_bytes() == _READY
        except (EOFError, OSError):
            ready = False
        if ready:
            return
        self.kill()
        self.process.join(1)
        code = self.process.exitcode
        why = f"exited with code {code}" if code is not None else "did not answer"
        raise ProcessCrashedError(
            f"a new pool process {why} while importing the task modules "
            f"(within {START_TIMEOUT:.0f} s); its error is in the worker's output"
        )

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.conn.close()

    def retire(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send_bytes(b"")
        with contextlib.suppress(Exception):
            self.conn.close()


class ProcessPool:
    def __init__(
        self,
        size: int | None = None,
        *,
        max_tasks_per_child: int | None = None,
        modules: Iterable[str] = (),
        start_method: str | None = None,
    ) -> None:
        self.size = size or os.cpu_count() or 1
        self.max_tasks_per_child = max_tasks_per_child
        self.modules = list(dict.fromkeys(modules))
        method = start_method or ("forkserver" if sys.platform != "win32" else "spawn")
        self._ctx = multiprocessing.get_context(method)
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._slots = asyncio.Semaphore(self.size)
        self._closed = False
        #: processes replaced after a crash or a timeout kill, for reports and tests
        self.replaced = 0

    async def run(
        self,
        task_name: str,
        payload: bytes,
        timeout: float | None = None,
        on_progress: Callable[[float, dict[str, Any]], Awaitable[None]] | None = None,
        parents: dict[str, Any] | None = None,
    ) -> Any:
        """Run one job in a pool process; returns its decoded result. The progress
        the job reports goes to ``on_progress``; ``parents`` (a ``read_parents``
        record) become the task's ``parent_results`` there."""
        if self._closed:
            raise RuntimeError("the process pool is closed")
        async with self._slots:
            child = await self._take()
            self._busy.add(child)
            healthy = False
            try:
                reply = await self._call(child, task_name, payload, timeout, on_progress, parents)
                healthy = True
            except asyncio.CancelledError:
                # the job was cancelled while it ran (or the worker stops with a kill):
                # its process is killed below, only that one, and replaced on demand
                log.info("a cancelled job's pool process %s is killed", child.process.pid)
                raise
            finally:
                self._busy.discard(child)
                if not healthy:
                    child.kill()
                    self._reap(child)
                    self.replaced += 1
                else:
                    # after a MemoryError the process may be near a limit (RLIMIT_AS)
                    # or badly fragmented: the next job gets a fresh one
                    self._recycle(child, spent=_is_memory_error(reply))
        return self._result(reply)

    async def warm_up(self) -> None:
        """Start the pool's processes ahead of the first job (a process costs about a
        second to start and import the task modules)."""
        missing = self.size - len(self._idle) - len(self._busy)
        for _ in range(max(missing, 0)):
            if self._closed:
                return
            try:
                child = await self._spawn()
            except ProcessCrashedError as exc:
                log.warning("the process pool did not warm up: %s", exc)
                return  # the first process job meets (and reports) the same error
            if self._closed:
                child.retire()
                self._reap(child)
                return
            self._idle.append(child)

    async def _take(self) -> _Child:
        """An idle process, or a new one; one that died while idle (OOM killer, a
        stray signal) is replaced here instead of failing the next job."""
        while self._idle:
            child = self._idle.pop()
            if child.process.is_alive():
                return child
            log.warning(
                "an idle pool process died (%s); replacing it",
                _describe_exit(child.process.exitcode).removeprefix("the pool process "),
            )
            child.kill()
            self._reap(child)
            self.replaced += 1
        return await self._spawn()

    async def _spawn(self) -> _Child:
        # starting a process blocks (forkserver round trip): keep it off the loop
        return await asyncio.get_running_loop().run_in_executor(
            None, _Child, self._ctx, self.modules
        )

    def _recycle(self, child: _Child, *, spent: bool = False) -> None:
        child.jobs_run += 1
        worn_out = bool(self.max_tasks_per_child) and child.jobs_run >= (
            self.max_tasks_per_child or 0
        )
        if worn_out or spent or self._closed:
            child.retire()
            self._reap(child)
        else:
            self._idle.append(child)

    @staticmethod
    def _reap(child: _Child) -> None:
        # join in a thread so a retired or killed process leaves no zombie behind
        asyncio.get_running_loop().run_in_executor(None, child.process.join, 10)

    async def _call(
        self,
        child: _Child,
        name: str,
        payload: bytes,
        timeout: float | None,
        on_progress: Callable[[float, dict[str, Any]], Awaitable[None]] | None = None,
        parents: dict[str, Any] | None = None,
    ) -> list[Any]:
        loop = asyncio.get_running_loop()
        request = [name, payload] if parents is None else [name, payload, parents]
        try:
            child.conn.send_bytes(msgpack.packb(request, use_bin_type=True))
        except OSError as exc:  # it died between _take() and now
            raise ProcessCrashedError(
                f"the pool process died before the job could start ({exc})"
            ) from None
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            message = await self._receive(child, deadline, timeout)
            if message[0] != _PROGRESS:
                return message
            if on_progress is not None:  # the job runs on meanwhile
                await on_progress(message[1], message[2])

    async def _receive(
        self, child: _Child, deadline: float | None, timeout: float | None
    ) -> list[Any]:
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        died: asyncio.Future[None] = loop.create_future()

        def mark(fut: asyncio.Future[None]) -> None:
            if not fut.done():
                fut.set_result(None)

        fd, sentinel = child.conn.fileno(), child.process.sentinel
        loop.add_reader(fd, mark, readable)
        loop.add_reader(sentinel, mark, died)
        try:
            done, _ = await asyncio.wait(
                {readable, died},
                timeout=None if deadline is None else max(0.0, deadline - loop.time()),
                return_when="FIRST_COMPLETED",
            )
        finally:
            loop.remove_reader(fd)
            loop.remove_reader(sentinel)
            readable.cancel()
            died.cancel()
        if not done:
            raise TaskTimeoutError(
                f"job exceeded its timeout of {timeout}s; its process was killed"
            )
        try:
            if child.conn.poll():
                return list(msgpack.unpackb(child.conn.recv_bytes(), raw=False))
        except (EOFError, OSError):
            pass
        # its pipe closed: give the process a moment to finish dying, off the loop
        await loop.run_in_executor(None, child.process.join, 1)
        raise ProcessCrashedError(_describe_exit(child.process.exitcode))

    @staticmethod
    def _result(reply: list[Any]) -> Any:
        if reply[0] == 0:
            return default_serializer.loads(reply[1])
        _, pickled, type_name, message, remote_tb = reply
        exc: BaseException | None = None
        if pickled is not None:
            with contextlib.suppress(Exception):
                exc = pickle.loads(pickled)  # our own child process, over a local pipe
        if exc is None:
            exc = RemoteTaskError(type_name, message, remote_tb)
        exc.__dict__.setdefault("remote_traceback", remote_tb)
        raise exc

    async def close(self, *, kill: bool = False) -> None:
        """Retire idle processes; kill busy ones when ``kill`` (shutdown timeout)."""
        self._closed = True
        for child in self._idle:
            child.retire()
        if kill:
            for child in list(self._busy):
                child.kill()
        children = [*self._idle, *self._busy]
        self._idle.clear()
        loop = asyncio.get_running_loop()
        for child in children:
            await loop.run_in_executor(None, child.process.join, 5)
            if child.process.is_alive():
                child.kill()


def _is_memory_error(reply: list[Any]) -> bool:
    return bool(reply[0] == 1 and reply[2] == "MemoryError")


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the pool process running the job was killed by {name}{hint}"
    return f"the pool process running the job exited with code {code} before replying"
