"""The tasks of the workflow examples (the worker imports this module: --import tasks)."""

from __future__ import annotations

from asynctasq import AsyncTask

# -- a FlowProducer DAG: ingest -> (a, b) -> aggregate -----------------------------------


class Ingest(AsyncTask[list[int]]):
    day: str

    async def execute(self) -> list[int]:
        return [3, 1, 4, 1, 5]


class Transform(AsyncTask[int]):
    factor: int

    async def execute(self) -> int:
        rows = self.parent_results["ingest"]  # the parent's result, by its name in the flow
        return sum(rows) * self.factor


class Aggregate(AsyncTask[dict[str, int]]):
    async def execute(self) -> dict[str, int]:
        a, b = self.parent_results["a"], self.parent_results["b"]
        return {"a": a, "b": b, "total": a + b}


# -- canvas: chain(Fetch, Parse, Store), group, chord -----------------------------------


class Fetch(AsyncTask[str]):
    url: str

    async def execute(self) -> str:
        return f"<html><title>{self.url}</title></html>"


class Parse(AsyncTask[int]):
    async def execute(self) -> int:
        return len(self.previous_result)  # Fetch's result


class Store(AsyncTask[str]):
    async def execute(self) -> str:
        return f"stored a page of {self.previous_result} characters"


class Square(AsyncTask[int]):
    n: int

    async def execute(self) -> int:
        return self.n * self.n


class Total(AsyncTask[int]):
    async def execute(self) -> int:
        return sum(self.previous_result)  # a chord's callback: the group's results, in order
