"""The task of the incident story (test_incident.py): a deploy breaks it, a later
deploy fixes it. A worker started with INCIDENT_BUG=1 runs the broken code."""

from __future__ import annotations

import os

from asynctasq import AsyncTask
from tests.sample_tasks import record


class SendReceipt(AsyncTask[int]):
    config = {"max_attempts": 1}  # no retries: a failure dead-letters the job at once

    order: int
    log: str

    async def execute(self) -> int:
        if os.environ.get("INCIDENT_BUG") == "1":
            raise KeyError(f"receipt template missing for order {self.order}")
        record(self.log, str(self.order))
        return self.order
