"""Starting jobs without one asyncio Task each (Python 3.11 has no eager tasks).

A *lane* is one asyncio Task that starts claimed jobs one after the other. It runs a
job's coroutine up to its first suspension, in the job's own copy of the context (as
a Task of its own would): a job that finishes without suspending (most short async
jobs) never costs a Task, a scheduling round and a loop turn. The first job that
suspends keeps the lane: from then on the lane is that job's Task (``current_task()``
saw it from the job's first line, so ``asyncio.timeout``, ``Task.cancel()`` from
the cancellation middleware and the shutdown all reach the job as before), and the
worker opens another lane for the jobs still waiting.

:func:`resume` is what a lane awaits for its job: it hands the job's pending future
to the Task, and each send or throw (a ``CancelledError``) back to the job, in the
job's context.

One difference remains, for code that keeps its own Task past its end: a job that
stored ``current_task()`` and finished without suspending leaves the lane going on to
the next jobs, so cancelling that stored Task later may reach one of them.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["resume"]

Job = Coroutine[Any, Any, None]


@types.coroutine
def resume(coro: Job, context: contextvars.Context, awaited: Any) -> Generator[Any, Any, None]:
    """Go on with ``coro``, suspended on ``awaited``, inside the awaiting Task."""
    send, throw = coro.send, coro.throw
    while True:
        try:
            sent = yield awaited
        except GeneratorExit:  # the lane itself is being closed: so is the job
            coro.close()
            raise
        except BaseException as exc:  # CancelledError above all: the job's to handle
            try:
                awaited = context.run(throw, exc)
            except StopIteration:
                return
        else:
            try:
                awaited = context.run(send, sent)
            except StopIteration:
                return
