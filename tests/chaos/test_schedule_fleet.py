"""A schedule every second served by three worker processes, two of them killed
(SIGKILL) and restarted while it runs: every slot runs exactly once.

Real time and real processes (this is what the ManualClock tests cannot show); each
run of the task appends its job id to a file, and a slot's job id is derived from
the slot, so a slot run twice or skipped shows in the file."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from asynctasq.schedules import slot_job_id
from tests.backends import Backend
from tests.conftest import only_backends
from tests.schedule_tasks import TICK_QUEUE, Tick
from tests.workers import spawn_worker, stop, wait_until

# about 13 s per broker: CI on Redis and PostgreSQL, make test-deep on every one
pytestmark = [pytest.mark.timeout(120), pytest.mark.ci_backends("redis", "postgres")]

SECONDS = 8
#: a worker killed between reserving a slot's job and running it holds that job until
#: its lease lapses; a short lease brings the job back (to run once, late) within the test
LEASE = "2"


@only_backends("redis", "postgres", "sqlite", "mongodb")
async def test_each_slot_runs_once_across_killed_and_restarted_workers(
    backend: Backend, tmp_path: Path
) -> None:
    ticks = tmp_path / "ticks.txt"
    ticks.touch()
    env = {**backend.env(), "TICKS_FILE": str(ticks), "ASYNCTASQ_LEASE_SECONDS": LEASE}

    def worker() -> object:
        return spawn_worker(env, queues=(TICK_QUEUE,), imports="tests.schedule_tasks")

    fleet = [worker() for _ in range(3)]
    try:
        wait_until(lambda: ticks.read_text() != "", 30, "the first slot")
        deadline = time.monotonic() + SECONDS
        victim = 0
        while time.monotonic() < deadline:
            time.sleep(1.5)
            fleet[victim].kill()  # type: ignore[attr-defined]
            fleet[victim].wait()  # type: ignore[attr-defined]
            fleet[victim] = worker()
            victim = (victim + 1) % 2  # the third worker lives throughout
        # the last slots run, and a slot held by a killed worker comes back
        wait_until(lambda: _contiguous(_async_slots(ticks)), 4 * float(LEASE) + 5, "no gaps")
    finally:
        for process in fleet:
            stop(process)  # type: ignore[arg-type]
    lines = [line.split() for line in ticks.read_text().splitlines()]
    runs = Counter(job_id for kind, job_id, _ in lines if kind == "async")
    assert max(runs.values()) == 1, [job for job, n in runs.items() if n > 1]
    slot_of = {slot_job_id(Tick.task_name, float(s)): s for s in _seconds_around(SECONDS + 60)}
    slots = sorted(slot_of[job_id] for job_id in runs)
    assert len(slots) >= SECONDS
    assert slots == list(range(slots[0], slots[-1] + 1))  # none skipped between
    for kind, job_id, slot in lines:  # each run knows the slot it covers
        if kind == "async":
            assert float(slot) == slot_of[job_id]
    process_slots = sorted(float(slot) for kind, _, slot in lines if kind == "process")
    assert process_slots and all(slot % 2 == 0 for slot in process_slots)
    assert len(set(process_slots)) == len(process_slots)


def _async_slots(ticks: Path) -> list[float]:
    return sorted(
        float(slot)
        for kind, _, slot in (line.split() for line in ticks.read_text().splitlines())
        if kind == "async"
    )


def _contiguous(slots: list[float]) -> bool:
    return len(slots) >= SECONDS and slots == [slots[0] + i for i in range(len(slots))]


def _seconds_around(span: int) -> range:
    now = int(time.time())
    return range(now - span, now + 2)
