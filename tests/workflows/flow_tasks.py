"""Tasks of the flow and canvas tests (registered by name, as a worker finds them)."""

from __future__ import annotations

from typing import Any

from asynctasq.errors import PermanentError
from asynctasq.tasks import AsyncTask


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
