"""The operations service layer on every broker with the admin capabilities: the
functions the CLI, the dashboard and scripts share."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from asynctasq.drivers.capabilities import CapabilityMissing, Inspection, Removal
from asynctasq.jobs import Job, JobState, QueueStats, WorkerInfo
from asynctasq.operations import (
    JobFilter,
    cancel_jobs,
    check_health,
    clean_queue,
    job_detail,
    list_jobs,
    list_workers,
    matching_ids,
    parse_duration,
    queue_summaries,
    remove_jobs,
    remove_matching,
    retry_jobs,
    retry_matching,
)
from asynctasq.serialization.payload import encode_payload
from tests.backends import Backend
from tests.cli.helpers import dead_letters
from tests.conftest import only_backends, skip_without

ADMIN = ("memory", "sqlite", "redis", "postgres", "mysql", "mongodb")


@only_backends(*ADMIN)
async def test_listing_pages_by_cursor_and_filters_by_task(backend: Backend) -> None:
    driver = await backend.new_driver()
    ids = await dead_letters(driver, 7)
    await dead_letters(driver, 3, task="app.other.Task")
    where = JobFilter("default", JobState.FAILED, task="app.mail.Send")

    seen, cursor, pages = [], None, 0
    while True:
        page = await list_jobs(driver, where, limit=3, cursor=cursor)
        seen += [job.id for job in page.jobs]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids) and pages == 3
    assert all(len(i) == 36 for i in seen)
    # from the other end, through the same ties (one batch settled: one finish time)
    backwards, cursor = [], None
    while True:
        page = await list_jobs(driver, replace(where, reverse=True), limit=3, cursor=cursor)
        backwards += [job.id for job in page.jobs]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert backwards == seen[::-1]

    waiting = await list_jobs(driver, JobFilter("default", JobState.PENDING))
    assert waiting.jobs == [] and waiting.next_cursor is None
    with pytest.raises(ValueError, match="invalid cursor"):
        await list_jobs(driver, where, cursor="not-a-cursor")


@only_backends(*ADMIN)
async def test_since_keeps_the_recent_jobs_only(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 2)
    recent = await list_jobs(driver, JobFilter("default", JobState.FAILED, since=3600))
    assert len(recent.jobs) == 2
    time.sleep(0.05)  # the window below then ends after both jobs finished
    none = await list_jobs(driver, JobFilter("default", JobState.FAILED, since=0.01))
    assert none.jobs == []


@only_backends(*ADMIN)
async def test_show_decodes_arguments_hiding_credentials_and_splits_the_traceback(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    (job_id,) = await dead_letters(driver, 1)
    job = await driver.get(job_id)  # type: ignore[attr-defined]
    detail = job_detail(job)
    assert detail["args"] == {"n": 0, "password": "***"}
    assert detail["error"] == "ValueError: bad address for order 0"
    assert detail["traceback"].startswith("Traceback (most recent call last)")
    assert detail["state"] == "failed" and detail["attempts"] == 1


@only_backends(*ADMIN)
async def test_retry_matching_counts_on_a_dry_run_then_retries_with_progress(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 12)
    await dead_letters(driver, 4, task="app.other.Task")
    where = JobFilter("default", task="app.mail.Send")  # state defaults to failed

    dry = await retry_matching(driver, where, dry_run=True)
    assert (dry.matched, dry.done) == (12, 0)
    assert (await driver.stats("default")).failed == 16  # type: ignore[attr-defined]

    reports: list[tuple[int, int]] = []
    done = await retry_matching(driver, where, progress=lambda d, t: reports.append((d, t)))
    assert (done.matched, done.done, done.skipped) == (12, 12, [])
    assert reports[0] == (0, 12) and reports[-1] == (12, 12)
    stats = await driver.stats("default")  # type: ignore[attr-defined]
    assert (stats.depth, stats.failed) == (12, 4)
    retried = await list_jobs(driver, JobFilter("default", JobState.PENDING))
    assert {j.attempts for j in retried.jobs} == {0}


@only_backends(*ADMIN)
async def test_retry_cancel_and_remove_by_id_report_what_they_could_not_do(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    (dead,) = await dead_letters(driver, 1)
    (waiting,) = await driver.enqueue([Job(task="t", payload=encode_payload({}))])

    retried = await retry_jobs(driver, [dead, waiting, "unknown-id"])
    assert retried.done == 1 and sorted(retried.skipped) == sorted([waiting, "unknown-id"])
    cancelled = await cancel_jobs(driver, [waiting, waiting])  # an id named twice counts once
    assert (cancelled.matched, cancelled.done) == (1, 1)
    assert (await driver.get(waiting)).state is JobState.CANCELLED  # type: ignore[attr-defined]

    if not isinstance(driver, Removal):
        with pytest.raises(CapabilityMissing, match="removing jobs"):
            await remove_jobs(driver, [waiting])
        return
    removed = await remove_jobs(driver, [waiting, dead])
    assert removed.done == 2
    assert await driver.get(waiting) is None and await driver.get(dead) is None  # type: ignore[attr-defined]
    assert (await driver.stats("default")).cancelled == 0  # type: ignore[attr-defined]


@only_backends(*ADMIN)
async def test_remove_leaves_an_active_job_alone(backend: Backend) -> None:
    skip_without(backend, Removal)
    driver = await backend.new_driver()
    await driver.enqueue([Job(task="t", payload=encode_payload({}))])
    (active,) = await driver.claim(["default"], limit=1, worker_id="w", lease_seconds=60)
    assert (await remove_jobs(driver, [active.id])).skipped == [active.id]
    assert (await driver.get(active.id)).state is JobState.ACTIVE  # type: ignore[attr-defined]


@only_backends(*ADMIN)
async def test_clean_deletes_old_jobs_in_batches_and_keeps_young_ones(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 25)
    time.sleep(0.3)
    await dead_letters(driver, 5)

    dry = await clean_queue(driver, "default", JobState.FAILED, older_than=0.2, dry_run=True)
    assert (dry.matched, dry.deleted) == (25, 0)
    reports: list[tuple[int, int]] = []
    result = await clean_queue(
        driver,
        "default",
        JobState.FAILED,
        older_than=0.2,
        batch=10,
        progress=lambda d, t: reports.append((d, t)),
    )
    assert (result.matched, result.deleted) == (25, 25)
    assert len(reports) == 4 and reports[-1] == (25, 25)  # the start, then 3 batches
    assert (await driver.stats("default")).failed == 5  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="active"):
        await clean_queue(driver, "default", JobState.ACTIVE, older_than=1)


@only_backends(*ADMIN)
async def test_queue_summaries_workers_and_health(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 2, queue="emails")
    await driver.enqueue([Job(task="t", payload=encode_payload({}), queue="emails")])
    (row,) = await queue_summaries(driver, ["emails"])
    assert (row["pending"], row["failed"], row["paused"]) == (1, 2, False)
    assert row["oldest_pending_age"] is not None and row["oldest_pending_age"] >= 0

    assert (await check_health(driver)).ok
    unserved = await check_health(driver, queue="emails", max_age=60)
    assert not unserved.ok and "no worker serving queue 'emails'" in unserved.message
    now = time.time()
    info = WorkerInfo("w-1", "box", 7, ("emails",), 4, started_at=now - 30)
    await driver.heartbeat(info, ttl=60)  # type: ignore[attr-defined]
    served = await check_health(driver, queue="emails", max_age=60)
    assert served.ok and served.workers == 1
    (worker,) = await list_workers(driver)
    assert worker["worker_id"] == "w-1" and worker["status"] == "alive"
    assert worker["uptime"] >= 29


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "15m", "1h", "7d", "2w")] == [
        90, 90, 900, 3600, 604800, 1209600
    ]  # fmt: skip
    with pytest.raises(ValueError, match="7d"):
        parse_duration("soon")


@only_backends("memory", "sqlite")
async def test_a_page_reads_a_bounded_number_of_jobs_and_says_where_to_go_on(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("asynctasq.operations.jobs.SCAN_BUDGET", 3)
    driver = await backend.new_driver()
    await dead_letters(driver, 7, task="app.other.Task")
    (wanted,) = await dead_letters(driver, 1)  # newest: listed first
    await dead_letters(driver, 1, task="app.other.Task")  # newer still
    where = JobFilter("default", JobState.FAILED, task="app.mail.Send")
    first = await list_jobs(driver, where, limit=2)
    assert [j.id for j in first.jobs] == [wanted] and first.next_cursor is not None
    rest, cursor, pages = [], first.next_cursor, 0
    while cursor is not None:
        page = await list_jobs(driver, where, limit=2, cursor=cursor)
        rest += page.jobs
        cursor, pages = page.next_cursor, pages + 1
    assert rest == [] and pages == 3  # 9 jobs, 3 read per page; the last finds the end


@only_backends(*ADMIN)
async def test_a_search_matches_the_id_start_task_name_and_arguments_never_a_secret(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    mail = await dead_letters(driver, 3)  # arguments {"n": i, "password": "hunter2"}
    (report,) = await driver.enqueue(
        [Job(task="app.reports.Build", payload=encode_payload({"customer": "Zebra Corp"}))]
    )

    async def found(text: str, state: JobState | None = None) -> set[str]:
        page = await list_jobs(driver, JobFilter("default", state, text=text), limit=100)
        return {job.id for job in page.jobs}

    assert await found("ZEBRA") == {report}
    assert await found("reports.build") == {report}
    assert await found("mail.send", JobState.FAILED) == set(mail)
    assert await found(report[:-2].upper()) == {report}  # ids are time-ordered: a long start
    assert await found('"n": 1') == {mail[1]}
    assert await found("hunter2") == set()  # redacted before it is searched
    assert await found('"password": "***"') == set(mail)  # as the job page shows it


@only_backends(*ADMIN)
async def test_remove_matching_needs_a_state_and_reports_selection_and_progress(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    mail = await dead_letters(driver, 5)
    other = await dead_letters(driver, 2, task="app.other.Task")
    if not isinstance(driver, Removal):
        with pytest.raises(CapabilityMissing, match="removing jobs"):
            await remove_matching(driver, JobFilter("default", JobState.FAILED))
        return
    with pytest.raises(ValueError, match="needs a state"):
        await remove_matching(driver, JobFilter("default", text="mail"))
    with pytest.raises(ValueError, match="active jobs cannot be removed"):
        await remove_matching(driver, JobFilter("default", JobState.ACTIVE))

    where = JobFilter("default", JobState.FAILED, text="mail.Send")
    dry = await remove_matching(driver, where, dry_run=True)
    assert (dry.action, dry.matched, dry.done, dry.dry_run) == ("remove", 5, 0, True)
    selections: list[tuple[int, int]] = []
    reports: list[tuple[int, int]] = []
    done = await remove_matching(
        driver,
        where,
        selected=lambda read, matched: selections.append((read, matched)),
        progress=lambda d, t: reports.append((d, t)),
    )
    assert (done.matched, done.done, done.skipped) == (5, 5, [])
    assert selections[-1] == (7, 5)  # every failed job read, five matched
    assert reports[0] == (0, 5) and reports[-1] == (5, 5)
    for job_id in mail:
        assert await driver.get(job_id) is None  # type: ignore[attr-defined]
    assert {j.id for j in (await list_jobs(driver, JobFilter("default"))).jobs} == set(other)


@only_backends(*ADMIN)
async def test_completed_last_minute_is_counted_up_to_a_cap(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 4)
    inspect = driver
    assert isinstance(inspect, Inspection)
    now = time.time()
    assert await inspect.count_finished_since("default", JobState.FAILED, now - 60, cap=10) == 4
    assert await inspect.count_finished_since("default", JobState.FAILED, now - 60, cap=3) == 3
    assert await inspect.count_finished_since("default", JobState.FAILED, now + 60, cap=10) == 0
    with pytest.raises(ValueError, match="not a finished state"):
        await inspect.count_finished_since("default", JobState.PENDING, now, cap=10)
    (summary,) = await queue_summaries(driver, ["default"], estimate=True)
    assert summary["failed"] == 4 and summary["approximate"] == {}


@only_backends("postgres")
async def test_a_state_beyond_the_exact_count_is_estimated_and_named(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 5)
    await driver.enqueue([Job(task="t", payload=encode_payload({}))])
    monkeypatch.setattr(type(driver), "estimate_beyond", 3)
    assert isinstance(driver, Inspection)
    stats, estimated = await driver.estimated_stats("default")
    # before the table is analyzed the planner may guess no more than was seen: then
    # the count only says "more than" the cap, never an estimate below the truth
    assert set(estimated) == {"failed"} and stats.depth == 1
    assert (estimated["failed"], stats.failed) == ("more than", 3) or stats.failed > 3
    schema = backend.schema  # type: ignore[attr-defined]
    await driver._db.run(lambda con: con.execute(f'ANALYZE "{schema}".jobs'))  # type: ignore[attr-defined]
    stats, estimated = await driver.estimated_stats("default")
    assert estimated == {"failed": "about"} and stats.failed == 5
    (summary,) = await queue_summaries(driver, ["default"], estimate=True)
    assert summary["approximate"] == {"failed": "about"} and summary["pending"] == 1
    (exact,) = await queue_summaries(driver, ["default"])
    assert exact["failed"] == 5 and exact["approximate"] == {}


@only_backends(*ADMIN)
async def test_a_listing_of_one_state_reads_from_either_end_by_cursor(backend: Backend) -> None:
    driver = await backend.new_driver()
    failed = []
    for _ in range(5):  # one at a time: distinct finish times
        failed += await dead_letters(driver, 1)
        time.sleep(0.002)
    waiting = await driver.enqueue(
        [Job(task="t", payload=encode_payload({}), priority=p) for p in (3, 1, 2)]
    )

    async def read_all(where: JobFilter) -> list[str]:
        seen, cursor = [], None
        while True:
            page = await list_jobs(driver, where, limit=2, cursor=cursor)
            seen += [job.id for job in page.jobs]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    newest = await read_all(JobFilter("default", JobState.FAILED))
    assert newest == failed[::-1]
    assert await read_all(JobFilter("default", JobState.FAILED, reverse=True)) == failed
    after = await read_all(JobFilter("default", JobState.FAILED, text="mail", reverse=True))
    assert after == failed
    claim_order = await read_all(JobFilter("default", JobState.PENDING))
    assert await read_all(JobFilter("default", JobState.PENDING, reverse=True)) == claim_order[::-1]
    assert sorted(claim_order) == sorted(waiting)
    with pytest.raises(ValueError, match="needs a state"):
        await list_jobs(driver, JobFilter("default", reverse=True))


@only_backends("postgres")
async def test_pending_jobs_beyond_the_cap_are_estimated_apart_from_scheduled_ones(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = await backend.new_driver()
    payload = encode_payload({})
    later = time.time() + 3600
    await driver.enqueue([Job(task="t", payload=payload, priority=n % 2) for n in range(6)])
    await driver.enqueue([Job(task="t", payload=payload, run_at=later) for _ in range(2)])
    monkeypatch.setattr(type(driver), "estimate_beyond", 3)
    assert isinstance(driver, Inspection)
    schema = backend.schema  # type: ignore[attr-defined]

    async def analyzed() -> tuple[QueueStats, dict[str, str]]:
        await driver._db.run(lambda con: con.execute(f'ANALYZE "{schema}".jobs'))  # type: ignore[attr-defined]
        return await driver.estimated_stats("default")  # type: ignore[attr-defined, no-any-return]

    # the planner's count of every pending job, less the scheduled ones (counted)
    stats, estimated = await analyzed()
    assert estimated == {"depth": "about"} and (stats.depth, stats.scheduled) == (6, 2)
    # both beyond the cap: no split of the estimate to trust
    await driver.enqueue([Job(task="t", payload=payload, run_at=later) for _ in range(3)])
    stats, estimated = await analyzed()
    assert estimated == {"depth": "more than", "scheduled": "more than"}
    assert (stats.depth, stats.scheduled) == (3, 3)


@only_backends("mysql", "sqlite")
async def test_mysql_and_sqlite_count_up_to_a_cap_and_say_more_than_beyond(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 5)
    await driver.enqueue([Job(task="t", payload=encode_payload({}))])
    monkeypatch.setattr(type(driver), "estimate_beyond", 3)
    assert isinstance(driver, Inspection)
    stats, estimated = await driver.estimated_stats("default")
    # no estimate to trust: a lower bound, said as one
    assert estimated == {"failed": "more than"} and stats.failed == 3 and stats.depth == 1
    (summary,) = await queue_summaries(driver, ["default"], estimate=True)
    assert summary["approximate"] == {"failed": "more than"} and summary["failed"] == 3


@only_backends(*ADMIN)
async def test_a_bulk_selection_reads_every_match_page_by_page_through_ties(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("asynctasq.operations.jobs.BULK_PAGE", 2)
    driver = await backend.new_driver()
    mail = await dead_letters(driver, 7)  # one batch settled: one finish time for all
    await dead_letters(driver, 2, task="app.other.Task")
    reads: list[tuple[int, int]] = []
    where = JobFilter("default", JobState.FAILED, task="app.mail.Send")
    ids = await matching_ids(driver, where, selected=lambda r, m: reads.append((r, m)))
    assert sorted(ids) == sorted(mail) and len(set(ids)) == 7
    assert reads[-1][1] == 7 and [m for _, m in reads] == sorted(m for _, m in reads)
    backwards = await matching_ids(driver, replace(where, reverse=True))
    assert backwards == ids[::-1]
