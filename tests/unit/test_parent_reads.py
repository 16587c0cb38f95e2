"""What a child reads of its parents before it runs: reads shared between the
children a worker starts together (core/worker/parent_reads.py), and only for task
classes that read them (tasks/parent_use.py)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

import pytest

from asynctasq import AsyncTask
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from asynctasq.core.worker.parent_reads import SharedParentReads
from asynctasq.drivers.memory import MemoryBroker, MemoryDriver
from asynctasq.drivers.results import StoredOutcome
from asynctasq.jobs import JobState
from asynctasq.tasks.parent_use import reads_parent_results
from asynctasq.tasks.parents import NOT_READ


class CountingSource:
    """job_outcomes that answers every id as completed, counting calls and ids."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail
        self.gate = asyncio.Event()
        self.gate.set()

    async def job_outcomes(self, job_ids: Sequence[str]) -> dict[str, StoredOutcome]:
        self.calls.append(list(job_ids))
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("broker away")
        return {i: StoredOutcome(i, JobState.COMPLETED, i.encode()) for i in job_ids}


async def test_reads_arriving_together_share_one_call() -> None:
    source = CountingSource()
    source.gate.clear()
    reads = SharedParentReads(source)  # type: ignore[arg-type]
    first = asyncio.create_task(reads.job_outcomes(["p0"]))
    await asyncio.sleep(0)  # in flight, alone
    others = [asyncio.create_task(reads.job_outcomes([f"p{i}", "shared"])) for i in range(1, 50)]
    await asyncio.sleep(0)
    source.gate.set()
    assert (await first) == {"p0": StoredOutcome("p0", JobState.COMPLETED, b"p0")}
    answers = await asyncio.gather(*others)
    for i, answer in enumerate(answers, start=1):
        assert set(answer) == {f"p{i}", "shared"}  # its own parents, nobody else's
    assert len(source.calls) == 2
    assert source.calls[1].count("shared") == 1  # asked once for all
    assert reads.reads == 50 and reads.calls == 2


async def test_a_broker_error_reaches_every_reader_of_that_call() -> None:
    source = CountingSource(fail=True)
    source.gate.clear()
    reads = SharedParentReads(source)  # type: ignore[arg-type]
    tasks = [asyncio.create_task(reads.job_outcomes([f"p{i}"])) for i in range(5)]
    await asyncio.sleep(0)
    source.gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    source.fail = False  # and the next read goes out again
    assert set(await reads.job_outcomes(["p9"])) == {"p9"}


async def test_a_cancelled_reader_leaves_the_others_their_answer() -> None:
    source = CountingSource()
    source.gate.clear()
    reads = SharedParentReads(source)  # type: ignore[arg-type]
    first = asyncio.create_task(reads.job_outcomes(["a"]))
    await asyncio.sleep(0)
    gone = asyncio.create_task(reads.job_outcomes(["b"]))
    kept = asyncio.create_task(reads.job_outcomes(["c"]))
    await asyncio.sleep(0)
    gone.cancel()
    source.gate.set()
    assert set(await first) == {"a"} and set(await kept) == {"c"}
    assert source.calls == [["a"], ["c"]]


def test_a_batch_holds_at_most_max_ids_but_one_big_read_goes_alone() -> None:
    async def run() -> list[list[str]]:
        source = CountingSource()
        source.gate.clear()
        reads = SharedParentReads(source, max_ids=10)  # type: ignore[arg-type]
        first = asyncio.create_task(reads.job_outcomes(["x"]))
        await asyncio.sleep(0)
        waiting = [
            asyncio.create_task(reads.job_outcomes([f"{n}-{i}" for i in range(size)]))
            for n, size in enumerate((6, 6, 25))
        ]
        await asyncio.sleep(0)
        source.gate.set()
        await asyncio.gather(first, *waiting)
        return source.calls

    calls = asyncio.run(run())
    assert [len(c) for c in calls] == [1, 6, 6, 25]


# -- which classes read their parents' results ----------------------------------------


class Plain(AsyncTask[None]):
    async def execute(self) -> None:
        pass


class Reader(AsyncTask[int]):
    async def execute(self) -> int:
        return sum(self.parent_results.values())


class ChainStep(AsyncTask[int]):
    async def execute(self) -> int:
        def inner() -> int:
            return int(self.previous_result)

        return inner() + 1


class ByName(AsyncTask[Any]):
    async def execute(self) -> Any:
        return getattr(self, "parent_results")  # noqa: B009


def _deco(fn: Any) -> Any:
    @functools.wraps(fn)
    async def wrapper(*args: Any) -> Any:
        return await fn(*args)

    return wrapper


class Decorated(AsyncTask[Any]):
    @_deco
    async def execute(self) -> Any:
        return self.parent_results


class InheritsTheReading(Reader):
    pass


class ReadsElsewhere(AsyncTask[Any]):
    reads_parent_results = True

    async def execute(self) -> Any:
        return _helper(self)


class NeverReads(Reader):
    reads_parent_results = False


def _helper(task: Any) -> Any:
    return task.parent_results


@pytest.mark.parametrize(
    ("cls", "reads"),
    [
        (Plain, False),
        (Reader, True),
        (ChainStep, True),
        (ByName, True),
        (Decorated, True),
        (InheritsTheReading, True),
        (ReadsElsewhere, True),
        (NeverReads, False),
    ],
)
def test_the_classes_whose_code_names_the_results_read_them(cls: type, reads: bool) -> None:
    assert reads_parent_results(cls) is reads


def test_a_task_that_was_not_given_its_results_says_why() -> None:
    task = Plain()
    task._parent_results = NOT_READ
    with pytest.raises(RuntimeError, match="reads_parent_results = True"):
        _ = task.parent_results
    with pytest.raises(RuntimeError, match="not read"):
        _ = task.previous_result


class Sink(AsyncTask[None]):
    seen: Any = None

    async def execute(self) -> None:
        Sink.seen = dict(self.parent_results)


async def test_a_worker_reads_only_for_the_children_that_read() -> None:
    broker = MemoryBroker()
    config = Config(driver="memory")
    driver = MemoryDriver(broker=broker)
    await driver.connect()
    dispatcher = Dispatcher(driver, config)
    calls: list[set[str]] = []
    original = MemoryDriver.job_outcomes

    async def counted(self: MemoryDriver, job_ids: Sequence[str]) -> dict[str, StoredOutcome]:
        calls.append(set(job_ids))
        return await original(self, job_ids)

    parent = await dispatcher.dispatch(Plain())
    quiet = [await dispatcher.dispatch(Plain().with_options(depends_on=[parent])) for _ in range(5)]
    sink = await dispatcher.dispatch(Sink().with_options(depends_on=[parent, *quiet]))
    worker = Worker(MemoryDriver(broker=broker), ["default"], config=config, handle_signals=False)
    MemoryDriver.job_outcomes = counted  # type: ignore[method-assign]
    try:
        running = asyncio.create_task(worker.start())
        handle = sink
        await asyncio.wait_for(handle.result(), 10)
        worker.stop()
        await running
    finally:
        MemoryDriver.job_outcomes = original  # type: ignore[method-assign]
    # the sink's six parents in one read; none for the quiet children (the other reads
    # are the result waiter's, of the sink)
    assert [c for c in calls if c != {sink}] == [{parent, *quiet}]
    assert Sink.seen is not None and set(Sink.seen) == {parent, *quiet}
