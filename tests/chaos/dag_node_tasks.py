"""The task of the DAG chaos test (``--import tests.chaos.dag_node_tasks``): each run
records ``start:<name>:<time>`` and, unless it fails on purpose, ``end:<name>:<time>``
(``time.time()``: one clock for every worker process on the machine)."""

from __future__ import annotations

import time

from asynctasq import PermanentError, SyncTask
from tests.sample_tasks import record


class DagNode(SyncTask[str], name="tests.chaos.dag_node"):
    config = {"max_attempts": 50, "retry_delay": 0.05}
    node: str
    log: str
    fail: bool = False
    seconds: float = 0.005

    def execute(self) -> str:
        record(self.log, f"start:{self.node}:{time.time():.6f}")
        time.sleep(self.seconds)
        if self.fail:
            raise PermanentError(f"{self.node} fails on purpose")
        record(self.log, f"end:{self.node}:{time.time():.6f}")
        return self.node
