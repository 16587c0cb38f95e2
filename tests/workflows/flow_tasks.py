"""Tasks of the flow and canvas tests (registered by name, as a worker finds them)."""

from __future__ import annotations

import os
from typing import Any

from asynctasq import AsyncProcessTask, SyncProcessTask, task
from asynctasq.errors import PermanentError
from asynctasq.tasks import AsyncTask
from asynctasq.tasks.parents import ParentFailure, ParentResults


class Ingest(AsyncTask[int], name="flows.ingest"):
    n: int

    async def execute(self) -> int:
        return self.n


class Scale(AsyncTask[int], name="flows.scale"):
    factor: int

    async def execute(self) -> int:
        (value,) = [v for k, v in self.parent_results.items() if k.count("-") == 4]
        return int(value) * self.factor


class Aggregate(AsyncTask[dict[str, Any]], name="flows.aggregate"):
    async def execute(self) -> dict[str, Any]:
        results = self.parent_results
        return {"a": results["a"], "b": results["b"], "sum": results["a"] + results["b"]}


class Fails(AsyncTask[None], name="flows.fails"):
    async def execute(self) -> None:
        raise PermanentError("broken on purpose")


class Fetch(AsyncTask[str], name="flows.fetch"):
    url: str

    async def execute(self) -> str:
        return f"<html>{self.url}</html>"


class Parse(AsyncTask[int], name="flows.parse"):
    async def execute(self) -> int:
        return len(self.previous_result)


class Store(AsyncTask[str], name="flows.store"):
    async def execute(self) -> str:
        return f"stored {self.previous_result}"


class Total(AsyncTask[int], name="flows.total"):
    async def execute(self) -> int:
        return sum(self.previous_result)


# -- what the other kinds of task read of their parents (test_parent_results_kinds.py) --


class ProcessScale(SyncProcessTask[list[int]], name="flows.process_scale"):
    """A chain step in a pool process: the previous step's result, scaled."""

    factor: int

    def execute(self) -> list[int]:
        return [os.getpid(), self.previous_result * self.factor]


class ProcessSum(AsyncProcessTask[list[Any]], name="flows.process_sum"):
    """Reads its parents by flow name and in order, in a pool process; a parent that
    failed (on_parent_failure="run") arrives as a ParentFailure."""

    async def execute(self) -> list[Any]:
        seen = [
            v.state if isinstance(v, ParentFailure) else v for v in self.parent_results.in_order
        ]
        return [os.getpid(), self.parent_results.get("ingest"), seen]


class ProcessFailsNoting(SyncProcessTask[None], name="flows.process_fails_noting"):
    """Fails in a pool process; its ``failed()`` hook (run by the worker) writes down
    the previous step's result, as ``execute`` saw it."""

    note: str

    def execute(self) -> None:
        raise PermanentError(f"broken on purpose after {self.previous_result}")

    def failed(self, exc: BaseException) -> None:
        with open(self.note, "w") as out:
            out.write(repr(self.previous_result))


@task(name="flows.fn_add")
async def fn_add(extra: int, parent_results: ParentResults) -> int:
    """A function task that declared ``parent_results``."""
    return int(parent_results["psum"][1]) + int(parent_results["ingest"]) + extra


@task(name="flows.fn_double", process=True)
def fn_double(previous_result: list[int]) -> list[int]:
    """A process function task that declared ``previous_result``."""
    return [os.getpid(), previous_result[1] * 2]
