"""Threads for blocking task bodies (SyncTask, hooks written as plain ``def``).

Two things ``concurrent.futures.ThreadPoolExecutor`` gets wrong for a worker:

- A thread cannot be killed, so a body that overruns its timeout keeps its thread
  busy. In a fixed pool, a few hung bodies would leave the jobs after them waiting
  forever (or timing out without ever starting). Here the thread of a timed-out job
  is *abandoned*: it is left to finish, stops counting against the pool size, and a
  fresh thread takes its place.
- Its threads are joined at interpreter exit, so a worker whose grace period ran
  out (its jobs already released to the queue) would hang until the body returned.
  These threads are daemons: the process exits without waiting for them.

A job's timeout counts from the moment its body starts, not from when it queued
for a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ThreadPool", "ThreadTimeout"]


class ThreadTimeout(TimeoutError):
    """A body ran past its timeout: its thread was abandoned (distinct from a
    TimeoutError the body raised itself)."""


class _Call:
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.loop = asyncio.get_running_loop()
        self.fn, self.args = fn, args
        self.context = contextvars.copy_context()
        self.started: asyncio.Future[None] = self.loop.create_future()
        self.done: asyncio.Future[Any] = self.loop.create_future()
        # both guarded by the pool's lock: whether the caller gave up, and whether a
        # thread had already taken the call when it did
        self.abandoned = False
        self.running = False

    def run(self) -> None:
        self._report(self.started, None, None)
        try:
            result = self.context.run(self.fn, *self.args)
        except BaseException as exc:
            self._report(self.done, None, exc)
        else:
            self._report(self.done, result, None)

    def cancel(self) -> None:
        self.started.cancel()
        self.done.cancel()

    def _report(self, future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
        def settle() -> None:
            if future.done():
                return
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)

        with contextlib.suppress(RuntimeError):  # the worker's loop is gone: nobody waits
            self.loop.call_soon_threadsafe(settle)


class ThreadPool:
    def __init__(self, size: int, *, name: str = "asynctasq-sync") -> None:
        if size < 1:
            raise ValueError("a thread pool needs at least one thread")
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Semaphore(0)  # one token per thread waiting for work
        self._serving = 0  # threads that count against size (abandoned ones do not)
        self._closed = False
        self._numbers = itertools.count(1)
        #: threads still running a body whose job gave up on it
        self.abandoned = 0

    async def run(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
        """``fn(*args)`` on a pool thread. Raises ``ThreadTimeout`` when it runs longer
        than ``timeout`` seconds; cancelling or timing out abandons the call."""
        if self._closed:
            raise RuntimeError("the thread pool is closed")
        call = _Call(fn, args)
        self._queue.put(call)
        self._ensure_thread()
        try:
            if timeout is None:
                return await call.done
            await call.started
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    return await asyncio.shield(call.done)
            except TimeoutError:
                if deadline.expired():
                    raise ThreadTimeout(f"still running after {timeout}s") from None
                raise
        except BaseException:
            if not call.done.done():
                self._abandon(call)
            raise

    def _ensure_thread(self) -> None:
        if self._idle.acquire(blocking=False):
            return  # an idle thread will take it
        with self._lock:
            if self._serving >= self.size:
                return  # queued: the next thread to finish takes it
            self._serving += 1
        name = f"{self.name}-{next(self._numbers)}"
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                return
            with self._lock:
                call.running = not call.abandoned
            if call.running:
                call.run()
                with self._lock:
                    if call.abandoned:
                        self.abandoned -= 1
                        return  # a replacement already serves in this thread's place
            self._idle.release()

    def _abandon(self, call: _Call) -> None:
        with self._lock:
            call.abandoned = True
            if not call.running:
                return  # never started, and now never will
            self._serving -= 1
            self.abandoned += 1
        if not self._queue.empty():
            self._ensure_thread()

    def close(self) -> None:
        """Refuse new calls and let idle threads go; bodies still running finish on
        their own (daemon threads: they do not hold the process at exit)."""
        if self._closed:
            return
        self._closed = True
        while True:  # calls that never started: their callers are told
            try:
                call = self._queue.get_nowait()
            except queue.Empty:
                break
            if call is not None:
                with self._lock:
                    call.abandoned = True
                with contextlib.suppress(RuntimeError):
                    call.loop.call_soon_threadsafe(call.cancel)
        with self._lock:
            serving = self._serving
        for _ in range(serving):
            self._queue.put(None)
