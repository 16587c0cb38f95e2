"""Tasks a worker subprocess of test_cli_monitoring.py imports: they log through
the application's own logger, from the loop and from a pool thread."""

from __future__ import annotations

import logging

from asynctasq import AsyncTask, SyncTask


class LogsInAsync(AsyncTask[None], name="monitoring.logs_in_async"):
    async def execute(self) -> None:
        logging.getLogger("myapp.billing").info("charging card")


class LogsInThread(SyncTask[None], name="monitoring.logs_in_thread"):
    def execute(self) -> None:
        logging.getLogger("myapp.billing").warning("slow bank")
