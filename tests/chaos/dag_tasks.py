"""The node of the chaos DAG test: records its start and end (one line each, appended:
a global order across worker processes) and returns 1 + the sum of its parents'
results, so a wrong or missing parent result shows in every descendant."""

from __future__ import annotations

import asyncio
import os

from asynctasq.errors import PermanentError
from asynctasq.tasks import AsyncTask


def note(log: str, line: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())  # one short write: whole lines, in order
    finally:
        os.close(fd)


class Node(AsyncTask[int], name="tests.chaos.dag.Node"):
    key: str
    log: str
    fail: bool = False

    async def execute(self) -> int:
        note(self.log, f"start {self.key}")
        await asyncio.sleep(0.005)
        if self.fail:
            raise PermanentError(f"{self.key} fails on purpose")
        value = 1 + sum(int(v) for v in self.parent_results.in_order)
        note(self.log, f"end {self.key}")
        return value
