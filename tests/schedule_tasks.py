"""Repeatable tasks for the scheduler's acceptance test: each run appends a line
"<kind> <job id> <scheduled_for>" to the file $TICKS_FILE (a line per execution, so
a slot run twice shows)."""

from __future__ import annotations

import os

from asynctasq import AsyncTask, SyncProcessTask

TICK_QUEUE = "ticks"


def _record(kind: str, job_id: str | None, slot: float | None) -> None:
    with open(os.environ["TICKS_FILE"], "a") as out:
        out.write(f"{kind} {job_id} {slot!r}\n")


class Tick(AsyncTask[None]):
    config = {"queue": TICK_QUEUE, "repeat_every": 1.0}

    async def execute(self) -> None:
        _record("async", self._task_id, self.scheduled_for)


class ProcessTick(SyncProcessTask[None]):
    """Every 2 s in a pool process: the slot reaches the child too."""

    config = {"queue": TICK_QUEUE, "repeat_every": 2.0}

    def execute(self) -> None:
        _record("process", os.environ.get("NO_JOB_ID_IN_A_CHILD"), self.scheduled_for)
