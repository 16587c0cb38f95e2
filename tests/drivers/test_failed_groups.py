"""The dead letters counted by task and error type (Inspection.failed_groups,
operations.dead_letter_groups) on every broker: exact where the broker aggregates,
else the newest ``budget`` with how many were counted of how many."""

from __future__ import annotations

import pytest

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.overviews import error_kind
from asynctasq.jobs import Failed, Job
from asynctasq.operations import dead_letter_groups
from asynctasq.serialization.payload import encode_payload
from tests.backends import Backend
from tests.conftest import skip_without

pytestmark = pytest.mark.timeout(60)

#: brokers that count every failed job in one step (the others read a budget)
AGGREGATING = {"memory", "sqlite", "postgres", "mysql"}


async def fail(driver: Driver, queue: str, task: str, errors: list[str | None]) -> None:
    jobs = [
        Job(task=task, payload=encode_payload({"n": i}), queue=queue) for i in range(len(errors))
    ]
    await driver.enqueue(jobs)
    claimed = await driver.claim([queue], limit=len(jobs), worker_id="w", lease_seconds=60)
    assert len(claimed) == len(jobs)
    outcomes = [
        Failed(j.id, "w", j.attempts, queue, error=errors[i] or "") for i, j in enumerate(claimed)
    ]
    assert all(await driver.settle(outcomes))


async def test_failed_jobs_are_counted_by_task_and_error_type(backend: Backend) -> None:
    skip_without(backend, Inspection)
    driver = await backend.new_driver()
    trace = "\n\nTraceback (most recent call last):\n  File 'x.py': KeyError: y"
    await fail(driver, "mail", "app.Send", [f"ValueError: bad {i}{trace}" for i in range(3)])
    await fail(driver, "mail", "app.Send", ["TimeoutError: slow", "no colon here"])
    await fail(driver, "mail", "app.Bounce", ["ValueError: <b>x</b>", ""])
    await fail(driver, "other", "app.Send", ["ValueError: y"])
    found = {q.queue: q for q in await dead_letter_groups(driver)}
    assert set(found) == {"mail", "other"}
    mail = found["mail"]
    assert mail.exact and mail.counted == mail.total == 7
    assert [(g.task, g.kind, g.count) for g in mail.groups] == [
        ("app.Send", "ValueError", 3),
        ("app.Bounce", "-", 1),
        ("app.Bounce", "ValueError", 1),
        ("app.Send", "TimeoutError", 1),
        ("app.Send", "no colon here", 1),
    ]
    assert [(g.task, g.kind, g.count) for g in found["other"].groups] == [
        ("app.Send", "ValueError", 1)
    ]


async def test_a_broker_that_cannot_aggregate_says_how_many_it_counted(
    backend: Backend,
) -> None:
    skip_without(backend, Inspection)
    driver = await backend.new_driver()
    await fail(driver, "mail", "app.Send", ["ValueError: a"] * 5)
    (mail,) = await dead_letter_groups(driver, budget=2)
    assert mail.total == 5
    if backend.name in AGGREGATING:
        assert mail.exact and mail.groups[0].count == 5
    else:  # the newest two, and it says so
        assert (mail.counted, mail.exact, mail.groups[0].count) == (2, False, 2)


def test_an_error_s_type_is_its_first_line_up_to_a_colon() -> None:
    assert error_kind("ValueError: boom\nTraceback: x") == "ValueError"
    assert error_kind("boom\nKeyError: x") == "boom"
    assert error_kind(None) == error_kind("") == error_kind(":x") == "-"
    assert error_kind("E" * 500) == "E" * 100
