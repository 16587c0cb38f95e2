"""Bulk actions in the background: "retry (or remove) every job matching this filter"
runs as a task of the dashboard process, whose progress its page shows live.

A bulk action on a million jobs takes longer than a request should: the POST starts
it (``retry_matching`` or ``remove_matching``, the functions behind ``job retry --all``
and ``job remove --all``) and answers at once with the run's page, ``/bulk/{id}``.
That page follows ``/bulk/{id}/stream`` (Server-Sent Events: how many jobs were read
and selected, then how many were done) and shows the report when it ends. Runs live in
the dashboard process (the newest KEEP of them): a restart forgets them, and a run cut
short by a restart leaves the jobs it had not reached as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from asynctasq.drivers.base import Driver, DriverError
from asynctasq.errors import AsyncTasqError
from asynctasq.operations import BulkResult, JobFilter, remove_matching, retry_matching
from asynctasq.redaction import redact

__all__ = ["ACTIONS", "BulkRun", "BulkRuns", "describe"]

#: the bulk actions, by the name the form posts: (operation, past tense)
ACTIONS = {"retry": (retry_matching, "Retried"), "remove": (remove_matching, "Removed")}
#: finished runs remembered for their pages
KEEP = 100
#: least time between two progress messages of one stream
THROTTLE_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0


def describe(where: JobFilter) -> str:
    """The filter in words: "failed jobs of queue email, task app.Send, matching 'x'"."""
    text = f"{where.state.value if where.state else 'all'} jobs of queue {where.queue}"
    if where.task:
        text += f", task {where.task}"
    if where.text:
        text += f", matching {where.text!r}"
    return text


@dataclass
class BulkRun:
    id: str
    action: str
    where: JobFilter
    #: selecting (reading the jobs that match), running, done or failed
    phase: str = "selecting"
    read: int = 0
    matched: int = 0
    done: int = 0
    report: str = ""
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "failed")

    def snapshot(self) -> dict[str, object]:
        return {
            "id": self.id,
            "action": self.action,
            "filter": describe(self.where),
            "phase": self.phase,
            "read": self.read,
            "matched": self.matched,
            "done": self.done,
            "report": self.report,
        }

    def _touch(self) -> None:
        self._changed.set()

    def _selected(self, read: int, matched: int) -> None:
        self.read, self.matched = read, matched
        self._touch()

    def _progress(self, done: int, total: int) -> None:
        self.phase, self.done, self.matched = "running", done, total
        self._touch()

    async def changes(self) -> AsyncIterator[dict[str, object]]:
        """The run's state now, then after each change (at most one message per
        THROTTLE_SECONDS) and at least every KEEPALIVE_SECONDS (so a proxy keeps an
        idle stream open), until and including the end."""
        while True:
            self._changed.clear()
            yield self.snapshot()
            if self.finished:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), KEEPALIVE_SECONDS)
            await asyncio.sleep(THROTTLE_SECONDS)


class BulkRuns:
    """The bulk runs of one dashboard process."""

    def __init__(self) -> None:
        self._runs: OrderedDict[str, BulkRun] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, run_id: str) -> BulkRun | None:
        return self._runs.get(run_id)

    def start(self, driver: Driver, action: str, where: JobFilter) -> BulkRun:
        if action not in ACTIONS:
            raise ValueError(f"unknown bulk action {action!r}: retry or remove")
        run = BulkRun(secrets.token_hex(8), action, where)
        self._runs[run.id] = run
        while len(self._runs) > KEEP:
            oldest = next(iter(self._runs.values()))
            if not oldest.finished:
                break  # never forget a run still going
            self._runs.popitem(last=False)
        task = asyncio.get_running_loop().create_task(self._go(driver, run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def _go(self, driver: Driver, run: BulkRun) -> None:
        operation, past = ACTIONS[run.action]
        try:
            result: BulkResult = await operation(
                driver, run.where, progress=run._progress, selected=run._selected
            )
        except (AsyncTasqError, DriverError, LookupError, ValueError) as exc:
            run.phase, run.report = "failed", redact(f"failed: {exc}")
        except Exception as exc:  # the page must end, whatever went wrong
            run.phase, run.report = "failed", redact(f"failed: {type(exc).__name__}: {exc}")
        else:
            run.phase, run.done, run.matched = "done", result.done, result.matched
            run.report = f"{past} {result.done} of {result.matched} job(s)" + (
                f"; {len(result.skipped)} refused (unknown now, or in another state)"
                if result.skipped
                else ""
            )
        run.finished_at = time.time()
        run._touch()

    async def stream(self, run: BulkRun) -> AsyncIterator[str]:
        """The run's progress as SSE: a ``progress`` message per change, then ``done``."""
        async for state in run.changes():
            kind = "done" if run.finished else "progress"
            yield f"event: {kind}\ndata: {json.dumps(state)}\n\n"

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
