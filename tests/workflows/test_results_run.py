"""Results end to end on every broker with the Results capability: a real worker
runs tasks; ``handle.result()`` and ``asynctasq.results.get`` return what they
returned (types the hooks know come back as themselves), a failure raises
JobFailedError, and a child reads its parents' results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from asynctasq import results
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker.worker import Worker
from asynctasq.drivers.capabilities import Dependencies, Results
from asynctasq.errors import JobFailedError, PermanentError
from asynctasq.tasks import AsyncTask
from asynctasq.tasks.parents import ParentFailure
from tests.backends import Backend
from tests.conftest import skip_without

pytestmark = pytest.mark.timeout(120)


class Produce(AsyncTask[dict[str, Any]]):
    n: int

    async def execute(self) -> dict[str, Any]:
        return {"n": self.n, "at": dt.date(2026, 12, 6), "price": Decimal("1.50"), "t": (1, 2)}


class Boom(AsyncTask[None]):
    async def execute(self) -> None:
        raise PermanentError("no luck today")


class Gather(AsyncTask[list[Any]]):
    seen: ClassVar[list[Any]] = []

    async def execute(self) -> list[Any]:
        Gather.seen.append(dict(self.parent_results))
        return [
            v.state if isinstance(v, ParentFailure) else v["n"]
            for v in self.parent_results.in_order
        ]


async def run_all(backend: Backend, driver: Any) -> None:
    worker = Worker(driver, ["default"], config=backend.config(), burst=True, handle_signals=False)
    await worker.start()


async def test_results_come_back_and_failures_raise(backend: Backend) -> None:
    skip_without(backend, Results)
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    good = await dispatcher.dispatch(Produce(n=7))
    bad = await dispatcher.dispatch(Boom())
    await run_all(backend, driver)
    value = await good.result(timeout=30)
    assert value == {"n": 7, "at": dt.date(2026, 12, 6), "price": Decimal("1.50"), "t": (1, 2)}
    assert await results.get(good, timeout=5, backend=driver) == value
    with pytest.raises(JobFailedError) as raised:
        await bad.result(timeout=30)
    assert raised.value.state == "failed" and raised.value.error_type == "PermanentError"
    assert "no luck today" in raised.value.error


async def test_a_child_reads_its_parents_results(backend: Backend) -> None:
    skip_without(backend, Results, Dependencies)
    driver = await backend.new_driver()
    dispatcher = Dispatcher(driver, backend.config())
    a = await dispatcher.dispatch(Produce(n=1))
    b = await dispatcher.dispatch(Produce(n=2))
    bad = await dispatcher.dispatch(Boom())
    child = await dispatcher.dispatch(
        Gather().with_options(depends_on=[a, b, bad], on_parent_failure="run")
    )
    Gather.seen.clear()
    await run_all(backend, driver)
    assert await child.result(timeout=30) == [1, 2, "failed"]
    seen = Gather.seen[0]
    assert seen[a]["n"] == 1 and seen[b]["n"] == 2
    assert isinstance(seen[bad], ParentFailure) and "no luck today" in seen[bad].error
