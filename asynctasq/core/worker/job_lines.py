"""A line per job at INFO for people watching a worker, within a budget.

``job 0193... (app.SendEmail) started, attempt 1`` and ``... completed in 12 ms`` are
what a developer wants to see in the first hour; a worker draining thousands of jobs a
second must not spend its time writing them (two log records cost more than a no-op
job). So each second allows ``per_second`` lines; the jobs past that are counted and
summed up in one line when the second is over (or when the worker stops). Failures and
retries are not counted here: they always log their own lines. ``--quiet`` (the
``asynctasq.jobs`` logger above INFO) turns all of it off.
"""

from __future__ import annotations

import logging

__all__ = ["JOB_LINES_PER_SECOND", "JobLines", "jobs_log"]

jobs_log = logging.getLogger("asynctasq.jobs")

#: job lines written per second before the rest are summed up
JOB_LINES_PER_SECOND = 20


class JobLines:
    def __init__(self, logger: logging.Logger = jobs_log, per_second: int = JOB_LINES_PER_SECOND):
        self.log = logger
        self.per_second = per_second
        self._window = float("-inf")  # when the current one-second window began
        self._written = 0
        self._left_out_started = 0
        self._left_out_completed = 0

    @property
    def enabled(self) -> bool:
        return self.log.isEnabledFor(logging.INFO)  # (cached by logging: cheap per job)

    def started(self, now: float, job_id: str, task: str, attempt: int) -> None:
        if self._may_write(now):
            self.log.info("job %s (%s) started, attempt %d", job_id, task, attempt)
        else:
            self._left_out_started += 1

    def completed(self, now: float, job_id: str, task: str, elapsed_ms: float) -> None:
        if self._may_write(now):
            self.log.info("job %s (%s) completed in %.0f ms", job_id, task, elapsed_ms)
        else:
            self._left_out_completed += 1

    def flush(self) -> None:
        """Sum up what the current window left out (the worker calls this as it stops)."""
        if self._left_out_started or self._left_out_completed:
            self.log.info(
                "%d more job(s) started and %d completed without a line of their own "
                "(at most %d job lines a second; --quiet turns them off)",
                self._left_out_started,
                self._left_out_completed,
                self.per_second,
            )
            self._left_out_started = self._left_out_completed = 0

    def _may_write(self, now: float) -> bool:
        if now - self._window >= 1.0:
            self.flush()
            self._window = now
            self._written = 0
        if self._written < self.per_second:
            self._written += 1
            return True
        return False
