"""The CLI as users run it: `python -m asynctasq worker` in a subprocess against a
SQLite file, jobs dispatched from this (another) process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from asynctasq import JobState
from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.sqlite import SQLiteDriver
from tests.sample_tasks import Explode, Record, RecordInProcess, RecordSync, SlowOnce, recorded
from tests.workers import ROOT, spawn_worker, stop, wait_until


def env_for(db: Path, **extra: str) -> dict[str, str]:
    return {"ASYNCTASQ_SQLITE_PATH": str(db), "ASYNCTASQ_DRIVER": "sqlite", **extra}


async def open_db(db: Path, keep: bool = False) -> tuple[SQLiteDriver, Dispatcher]:
    driver = SQLiteDriver(db, keep_completed=keep)
    await driver.connect()
    return driver, Dispatcher(driver, Config(driver="sqlite", sqlite_path=str(db)))


async def test_a_burst_worker_runs_every_kind_of_job(tmp_path: Path) -> None:
    db, log = tmp_path / "q.db", str(tmp_path / "effects.log")
    driver, dispatcher = await open_db(db, keep=True)
    ok = await dispatcher.dispatch_many(
        [
            Record(key="async", log=log),
            RecordSync(key="sync", log=log),
            RecordInProcess(key="proc", log=log),
        ]
    )
    delayed = await dispatcher.dispatch(Record(key="later", log=log).delay(0.5))
    boom = await dispatcher.dispatch(Explode(key="boom", log=log))
    env = env_for(db, ASYNCTASQ_KEEP_COMPLETED_TASKS="true", ASYNCTASQ_PROCESS_POOL_SIZE="1")
    worker = spawn_worker(env, "--burst", log_path=tmp_path / "worker.log")
    assert worker.wait(60) == 0, (tmp_path / "worker.log").read_text()
    for job_id in [*ok, delayed]:
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.COMPLETED, job
    failed = await driver.get(boom)
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.attempts == 2 and "RuntimeError: exploded boom" in (failed.error or "")
    assert Counter(recorded(log)) == {"async": 1, "sync": 1, "proc": 1, "later": 1, "boom": 2}
    await driver.disconnect()


async def test_sigterm_mid_job_lets_it_finish_and_exits_0(tmp_path: Path) -> None:
    db, log = tmp_path / "q.db", str(tmp_path / "effects.log")
    driver, dispatcher = await open_db(db)
    started = str(tmp_path / "started.log")
    job_id = await dispatcher.dispatch(Record(key="slow", log=log, seconds=1.5, started=started))
    worker = spawn_worker(env_for(db))
    # started, not only claimed: a job claimed but not begun is released at SIGTERM
    wait_until(lambda: recorded(started) == ["slow"], 30, "the job to start")
    assert stop(worker) == 0
    assert recorded(log) == ["slow"]
    assert await driver.get(job_id) is None  # completed and removed
    await driver.disconnect()


async def test_sigterm_past_the_grace_period_puts_the_job_back_at_once(tmp_path: Path) -> None:
    db, log, marker = tmp_path / "q.db", str(tmp_path / "effects.log"), str(tmp_path / "marker")
    driver, dispatcher = await open_db(db)
    job_id = await dispatcher.dispatch(SlowOnce(key="slow", log=log, marker=marker))
    worker = spawn_worker(env_for(db, ASYNCTASQ_SHUTDOWN_TIMEOUT="0.5"))
    wait_until(lambda: _state(db, job_id) == "active", 30, "the job to start")
    assert stop(worker) == 0
    job = await driver.get(job_id)
    assert job is not None and (job.state, job.attempts, job.worker_id) == (
        JobState.PENDING,
        0,
        None,
    )
    # another worker takes it straight away: no waiting for the 60 s lease to lapse
    started = time.monotonic()
    assert spawn_worker(env_for(db), "--burst").wait(60) == 0
    assert time.monotonic() - started < 30
    assert recorded(log) == ["slow"]
    await driver.disconnect()


async def test_a_second_signal_stops_at_once_and_releases(tmp_path: Path) -> None:
    db, log = tmp_path / "q.db", str(tmp_path / "effects.log")
    driver, dispatcher = await open_db(db)
    job_id = await dispatcher.dispatch(Record(key="slow", log=log, seconds=30))
    output = tmp_path / "worker.log"
    worker = spawn_worker(env_for(db, ASYNCTASQ_LOG_LEVEL="INFO"), log_path=output)
    wait_until(lambda: _state(db, job_id) == "active", 30, "the job to start")
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(20) == 0, output.read_text()
    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.PENDING, output.read_text()
    await driver.disconnect()


@pytest.mark.slow
async def test_two_workers_on_one_file_run_every_job_exactly_once(tmp_path: Path) -> None:
    db, log = tmp_path / "q.db", str(tmp_path / "effects.log")
    driver, dispatcher = await open_db(db)
    await dispatcher.dispatch_many(Record(key=str(i), log=log) for i in range(2000))
    workers = [spawn_worker(env_for(db), "--burst", "--concurrency", "20") for _ in range(2)]
    for worker in workers:
        assert worker.wait(120) == 0
    counts = Counter(recorded(log))
    assert len(counts) == 2000
    assert set(counts.values()) == {1}
    assert (await driver.stats("default")).depth == 0
    await driver.disconnect()


def test_a_bad_setting_fails_at_start_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asynctasq", "worker", "--burst"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "ASYNCTASQ_CONCURRENCY": "many"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ASYNCTASQ_CONCURRENCY='many' is not valid: expected an integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_import_fails_with_advice(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asynctasq", "worker", "--burst", "--import", "no_such_tasks_mod"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "ASYNCTASQ_SQLITE_PATH": str(tmp_path / "x.db")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot import task module 'no_such_tasks_mod'" in result.stderr


def test_help_names_the_variable_behind_each_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asynctasq", "worker", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    text = " ".join(result.stdout.split())
    for variable in (
        "ASYNCTASQ_QUEUES",
        "ASYNCTASQ_CONCURRENCY",
        "ASYNCTASQ_TASK_MODULES",
        "ASYNCTASQ_DRIVER",
    ):
        assert variable in text


def test_publish_writes_env_example_and_migrate_creates_the_schema(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ASYNCTASQ_SQLITE_PATH": str(tmp_path / "fresh.db")}
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "asynctasq", *a],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    published = run("publish")
    assert published.returncode == 0
    text = (tmp_path / ".env.example").read_text()
    assert "ASYNCTASQ_DRIVER=sqlite" in text
    assert "# Queues a worker serves" in text
    assert run("publish").returncode == 1  # will not overwrite without --force
    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "schema up to date" in migrated.stdout  # connect() already created it
    assert (tmp_path / "fresh.db").exists()


def _state(db: Path, job_id: str) -> str | None:
    import sqlite3

    with sqlite3.connect(db, timeout=30) as conn:
        row = conn.execute("SELECT state FROM asynctasq_jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else row[0]
