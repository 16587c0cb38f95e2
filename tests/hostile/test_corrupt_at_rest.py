"""Corrupt records at rest: one bad job never harms another (issue: hostile input).

While three workers drain good jobs, a few stored job records are damaged in every way
the broker's storage allows (see ``corruption.py`` and ``corrupt_<broker>.py``). The
damaged jobs are interleaved with good ones that come due at the same moment, so a
claim batch mixes both. Every good job must complete (at least once; duplicates only
where a lease lapsed, and counted), every corrupt one must end in the dead-letter state
with a reason naming the fault, and no worker may die.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.worker import Worker
from asynctasq.drivers.capabilities import Inspection
from asynctasq.jobs import Job, JobState
from tests.backends import Backend
from tests.chaos.fleet import Fleet, all_jobs, until
from tests.conftest import skip_without
from tests.hostile.corruption import corruptions_for
from tests.sample_tasks import Record, recorded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

GOOD_NOW = 400  # drained from the start (kept completed: Redis's audit of records in no
# set reads 100 a second, so every kept record lengthens its cycle, and this test)
GOOD_LATER = 300  # come due together with the victims, so batches mix good and bad
VICTIMS_PER_CORRUPTION = 2
DUE_IN = 8.0  # seconds: the victims are corrupted while they wait (a busy CI host is slow)
WORKERS = 3


def _env(backend: Backend) -> dict[str, str]:
    return {
        **backend.env(),
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
        "ASYNCTASQ_CONCURRENCY": "20",
        "ASYNCTASQ_LEASE_SECONDS": "5",
        "ASYNCTASQ_UNKNOWN_TASK_GRACE": "0",  # a damaged task name: dead-lettered at once
    }


async def test_corrupt_records_are_dead_lettered_and_good_jobs_complete(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skip_without(backend, Inspection)  # it reads every job back, kept completed
    corruptions = corruptions_for(backend)
    # a slow test server (MongoDB's emulator) says how many jobs it can take
    budget: int | None = getattr(backend, "max_jobs", None)
    good_now_count = GOOD_NOW if budget is None else min(GOOD_NOW, budget // 2)
    good_later_count = GOOD_LATER if budget is None else min(GOOD_LATER, budget // 3)
    log = tmp_path / "effects.log"
    driver = await backend.new_driver(keep_completed=True)
    dispatcher = Dispatcher(driver, Config(driver="memory", default_max_retries=3))

    good_now = [Record(key=f"n{i}", log=str(log)) for i in range(good_now_count)]
    ids = await dispatcher.dispatch_many(good_now)
    # a slow server (MongoDB's emulator, one Python process) needs longer to take the
    # victims, their corruption and the workers' claims at once on a loaded host
    later_at = time.time() + DUE_IN * getattr(backend, "slowness", 1)
    # victims and good jobs due at the same moment, interleaved
    victims: list[tuple[Job, str, str]] = []  # (job, corruption name, reason)
    good_later: list[str] = []
    for c_index, corruption in enumerate(corruptions):
        for v in range(VICTIMS_PER_CORRUPTION):
            key = f"v{c_index}_{v}"
            victim = Record(key=key, log=str(log)).delay(later_at - time.time())
            (vid,) = await dispatcher.dispatch_many([victim])
            job = await driver.get(vid)
            assert job is not None
            victims.append((job, corruption.name, corruption.reason))
        batch = [
            Record(key=f"l{c_index}_{i}", log=str(log)).delay(later_at - time.time())
            for i in range(good_later_count // len(corruptions) + 1)
        ]
        good_later += await dispatcher.dispatch_many(batch)
    good_keys = {f"n{i}" for i in range(good_now_count)} | {
        f"l{c}_{i}"
        for c in range(len(corruptions))
        for i in range(good_later_count // len(corruptions) + 1)
    }

    in_process: list[asyncio.Task[None]] = []
    fleet: Fleet | None = None
    if backend.shared_across_processes:
        fleet = Fleet(_env(backend), WORKERS, log_dir=tmp_path).start()
    else:
        for n in range(WORKERS):
            worker = Worker(
                await backend.new_driver(keep_completed=True),
                ["default"],
                worker_id=f"w{n}",
                concurrency=20,
                handle_signals=False,
                task_modules=["tests.sample_tasks"],
                config=backend.config(keep_completed_tasks=True, unknown_task_grace=0),
            )
            in_process.append(asyncio.create_task(worker.start()))
    try:
        # corrupt the waiting victims while the workers drain the first wave
        for (job, name, _reason), corruption in zip(
            victims, [c for c in corruptions for _ in range(VICTIMS_PER_CORRUPTION)], strict=True
        ):
            assert corruption.name == name
            await corruption.apply(backend, job)
        assert time.time() < later_at, "corrupting took longer than the victims' delay"

        async def finished() -> bool:
            if fleet is not None:
                assert all(w.poll() is None for w in fleet.workers), (
                    f"a worker died:\n{fleet.logs()}"
                )
            else:
                assert not any(t.done() for t in in_process), "an in-process worker stopped"
            if not good_keys <= set(recorded(str(log))):
                return False
            dead = await all_jobs(driver, "default", JobState.FAILED)
            return len(dead) >= len(victims)

        await until(finished, 120, "every good job to complete and every victim to die")
    finally:
        if fleet is not None:
            codes = fleet.stop()
            fleet.kill_all()
        for task in in_process:
            task.cancel()
        if in_process:
            await asyncio.gather(*in_process, return_exceptions=True)
    if fleet is not None:
        assert codes == [0] * WORKERS, fleet.logs()

    runs = Counter(recorded(str(log)))
    assert good_keys <= set(runs)
    victim_keys = {
        f"v{c}_{v}" for c in range(len(corruptions)) for v in range(VICTIMS_PER_CORRUPTION)
    }
    # a damaged record may still name the right task and arguments (a field the task does not
    # read was damaged); it must nonetheless be dead-lettered, never run
    ran_victims = victim_keys & set(runs)
    dead = {job.id: job for job in await all_jobs(driver, "default", JobState.FAILED)}
    problems = []
    for job, name, reason in victims:
        got = dead.get(job.id)
        if got is None:
            state = await driver.get(job.id)
            problems.append(f"{name}: job {job.id} not dead-lettered (now {state and state.state})")
        elif reason.lower() not in (got.error or "").lower():
            problems.append(f"{name}: reason {got.error!r} does not name {reason!r}")
    assert not problems, "\n".join(problems)
    assert not ran_victims, f"corrupt jobs ran: {sorted(ran_victims)}"
    completed = await all_jobs(driver, "default", JobState.COMPLETED)
    assert {j.id for j in completed} >= set(ids) | set(good_later)
    extra = sum(n - 1 for k, n in runs.items() if n > 1)
    with capsys.disabled():
        print(
            f"\ncorrupt-at-rest[{backend.name}]: {len(good_keys)} good jobs completed, "
            f"{len(victims)} corrupt records ({len(corruptions)} kinds) dead-lettered, "
            f"{extra} duplicate run(s) after lapsed leases, 0 workers died"
        )
