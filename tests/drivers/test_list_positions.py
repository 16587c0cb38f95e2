"""``Inspection.list_from`` on every broker with positions: each state read page by
page from a position shows every job once, in ``list_jobs``'s order (and backwards in
reverse); the listing of every state by cursor (operations) goes state by state; a
cursor edited by hand is refused with a ValueError."""

from __future__ import annotations

import base64
import json
import time

import pytest

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Dependencies, Inspection
from asynctasq.jobs import Completed, Job, JobState
from asynctasq.operations import JobFilter, list_jobs
from asynctasq.operations.cursors import encode_cursor, encode_position
from asynctasq.operations.positioned import STATE_ORDER
from asynctasq.serialization.payload import encode_payload
from tests.backends import Backend
from tests.cli.helpers import dead_letters
from tests.conftest import only_backends

POSITIONED = ("memory", "sqlite", "redis", "postgres", "mysql", "mongodb")
QUEUE = "default"
PAYLOAD = encode_payload({})


def job(**fields: object) -> Job:
    return Job(task="app.T", payload=PAYLOAD, queue=QUEUE, **fields)  # type: ignore[arg-type]


async def mixed_queue(driver: Driver) -> dict[JobState, int]:
    """A queue holding jobs in every state a broker keeps, waiting ones with mixed
    priorities and run times (ties included); how many of each."""
    await dead_letters(driver, 4, queue=QUEUE)
    done = await driver.enqueue([job() for _ in range(3)])
    claimed = await driver.claim([QUEUE], limit=3, worker_id="w", lease_seconds=60)
    assert sorted(j.id for j in claimed) == sorted(done)
    assert all(await driver.settle([Completed(j.id, "w", j.attempts, QUEUE) for j in claimed]))
    for cancelled in await driver.enqueue([job() for _ in range(2)]):
        assert await driver.cancel(cancelled)  # type: ignore[attr-defined]
    # active: the most urgent jobs, claimed at once
    await driver.enqueue([job(priority=-5) for _ in range(4)])
    active = await driver.claim([QUEUE], limit=4, worker_id="w", lease_seconds=60)
    assert len(active) == 4
    now = time.time()
    pending = [job(priority=i % 3, run_at=now - 100 + i % 4) for i in range(14)]
    scheduled = [job(priority=i % 2, run_at=now + 3600 + i % 3) for i in range(7)]
    await driver.enqueue(pending + scheduled)
    blocked = 0
    if isinstance(driver, Dependencies):
        blocked = 5
        await driver.enqueue([job(priority=i % 2, depends_on=[active[0].id]) for i in range(5)])
    return {
        JobState.FAILED: 4, JobState.COMPLETED: 3, JobState.CANCELLED: 2,
        JobState.ACTIVE: 4, JobState.PENDING: 14, JobState.SCHEDULED: 7,
        JobState.BLOCKED: blocked, JobState.EXPIRED: 0,
    }  # fmt: skip


async def walk(inspect: Inspection, state: JobState, *, reverse: bool = False) -> list[str]:
    """Every job id of ``state`` read three at a time by position."""
    seen: list[str] = []
    after = None
    while True:
        page = await inspect.list_from(QUEUE, state, after=after, limit=3, reverse=reverse)
        assert page is not None
        seen += [j.id for _, j in page]
        assert all(j.state is state for _, j in page)
        if len(page) < 3:
            return seen
        after = page[-1][0]


async def read_all(driver: Driver, where: JobFilter, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = await list_jobs(driver, where, limit=limit, cursor=cursor)
        seen += [j.id for j in page.jobs]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@only_backends(*POSITIONED)
async def test_each_state_pages_by_position_in_the_order_of_list_jobs(backend: Backend) -> None:
    driver = await backend.new_driver(keep_completed=True)
    assert isinstance(driver, Inspection)
    counts = await mixed_queue(driver)
    for state in STATE_ORDER:
        listed = [j.id for j in await driver.list_jobs(QUEUE, state, limit=1000)]
        assert len(listed) == counts[state], state
        assert await walk(driver, state) == listed, state
        assert await walk(driver, state, reverse=True) == listed[::-1], state


@only_backends(*POSITIONED)
async def test_the_listing_of_every_state_goes_state_by_state_each_job_once(
    backend: Backend,
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    assert isinstance(driver, Inspection)
    counts = await mixed_queue(driver)
    expected = []
    for state in STATE_ORDER:
        expected += [j.id for j in await driver.list_jobs(QUEUE, state, limit=1000)]
    seen = await read_all(driver, JobFilter(QUEUE), limit=4)
    assert seen == expected and len(set(seen)) == sum(counts.values())
    # and one state at a time, from either end, by the operations' cursors
    for state in (JobState.PENDING, JobState.SCHEDULED, JobState.BLOCKED, JobState.FAILED):
        forward = await read_all(driver, JobFilter(QUEUE, state), limit=2)
        assert forward == [j.id for j in await driver.list_jobs(QUEUE, state, limit=1000)]
        backward = await read_all(driver, JobFilter(QUEUE, state, reverse=True), limit=2)
        assert backward == forward[::-1]


@only_backends(*POSITIONED)
async def test_a_page_by_position_skips_nothing_when_the_jobs_before_it_are_claimed(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    await driver.enqueue([job(priority=p % 4) for p in range(9)])
    order = [j.id for j in await driver.list_jobs(QUEUE, JobState.PENDING, limit=100)]
    where = JobFilter(QUEUE, JobState.PENDING)
    first = await list_jobs(driver, where, limit=3)
    assert [j.id for j in first.jobs] == order[:3]
    claimed = await driver.claim([QUEUE], limit=3, worker_id="w", lease_seconds=60)
    assert sorted(j.id for j in claimed) == sorted(order[:3])
    # an offset of 3 would now skip three jobs; the position does not
    second = await list_jobs(driver, where, limit=3, cursor=first.next_cursor)
    assert [j.id for j in second.jobs] == order[3:6]


def hand_made(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def key(data: object) -> str:
    return hand_made("k" + json.dumps(data))


@only_backends(*POSITIONED)
async def test_a_hand_edited_cursor_is_refused_and_old_cursors_still_page(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    failed = await dead_letters(driver, 3)
    await driver.enqueue([job(priority=p % 3) for p in range(7)])
    pending = JobFilter(QUEUE, JobState.PENDING)
    bad = [
        "not-a-cursor",
        hand_made("k{"),  # not JSON
        key(["pending"]),  # no position
        key(["nonsense", [1, 2.0, "x"]]),  # no such state
        key(["pending", []]),  # an empty position
        key(["pending", [1, 2.0, "x", 4, 5]]),  # too long for any broker
        key(["pending", ["x"]]),  # the wrong shape for this broker
        key(["pending", ["a", "b", "c"]]),  # the wrong kinds
        key(["pending", [10**400, 1.0, "x"]]),  # a number no float holds
        hand_made('k["pending", [NaN, 1.0, "x"]]'),
        key(["failed", [1.0, "x"]]),  # a cursor of another state's listing
        hand_made("pnan|x"),
        hand_made("o-4"),
    ]
    for cursor in bad:
        with pytest.raises(ValueError, match="invalid"):
            await list_jobs(driver, pending, limit=2, cursor=cursor)
    with pytest.raises(ValueError, match="invalid position"):
        await driver.list_from(QUEUE, JobState.PENDING, after=("x",), limit=2)

    order = [j.id for j in await driver.list_jobs(QUEUE, JobState.PENDING, limit=100)]
    by_offset = await list_jobs(driver, pending, limit=2, cursor=encode_cursor(3))
    assert [j.id for j in by_offset.jobs] == order[3:5]
    newest = [j.id for j in await driver.list_jobs(QUEUE, JobState.FAILED, limit=100)]
    top = await driver.list_jobs(QUEUE, JobState.FAILED, limit=1)
    assert top[0].finished_at is not None
    old_position = encode_position(top[0].finished_at, top[0].id)
    after_top = await list_jobs(driver, JobFilter(QUEUE, JobState.FAILED), cursor=old_position)
    assert [j.id for j in after_top.jobs] == newest[1:] and sorted(newest) == sorted(failed)


@only_backends(*POSITIONED)
async def test_a_page_may_be_bigger_than_one_script_or_statement_reads(backend: Backend) -> None:
    # (Redis reads CHUNK jobs per script call: unpack() refuses ~8,000 values)
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    await driver.enqueue([job(priority=n % 5) for n in range(9_000)])
    listed = [j.id for j in await driver.list_jobs(QUEUE, JobState.PENDING, limit=10_000)]
    page = await driver.list_from(QUEUE, JobState.PENDING, after=None, limit=8_500)
    assert page is not None
    assert [j.id for _, j in page] == listed[:8_500]
    rest = await driver.list_from(QUEUE, JobState.PENDING, after=page[-1][0], limit=8_500)
    assert rest is not None
    assert [j.id for _, j in rest] == listed[8_500:]
