"""A task for the rate limit fleet test: each start appends "<time> <job id> <pid>"
to the file $STARTS_FILE. It sets no limit: its queue's stored limit holds it."""

from __future__ import annotations

import os
import time

from asynctasq import AsyncTask

RATED_QUEUE = "rated"


class Stamp(AsyncTask[None]):
    config = {"queue": RATED_QUEUE}

    n: int

    async def execute(self) -> None:
        with open(os.environ["STARTS_FILE"], "a") as out:
            out.write(f"{time.time()!r} {self._task_id} {os.getpid()}\n")
