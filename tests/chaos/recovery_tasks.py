"""A task that takes its worker process down on every attempt and records its
``failed`` hook (``failed<key>:<Exception>``), wherever that hook runs."""

from __future__ import annotations

import os

from asynctasq import AsyncTask
from tests.chaos.tasks import Hooked
from tests.sample_tasks import record

__all__ = ["KillWorkerHooked"]


class KillWorkerHooked(Hooked, AsyncTask[None]):
    config = {"max_attempts": 1}

    async def execute(self) -> None:
        record(self.log, self.key)
        os._exit(1)
