"""The monitoring commands as users run them: ``asynctasq stats`` and
``asynctasq events`` as subprocesses, and a worker's JSON logs."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asynctasq import Config
from asynctasq.cli.events import describe
from asynctasq.cli.stats import ALIVE_GRACE, COLUMNS, WORKER_COLUMNS, _print
from asynctasq.clock import ManualClock
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.events import EVENT_TYPES, Event
from asynctasq.drivers.sqlite import SQLiteDriver
from asynctasq.jobs import WorkerInfo
from tests.acceptance.test_cli_monitoring_tasks import LogsInAsync, LogsInThread
from tests.backends_redis import local_redis_url
from tests.sample_tasks import Explode, Record
from tests.workers import ROOT, spawn_worker, stop, wait_until


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    full.update(env)
    command = [sys.executable, "-m", "asynctasq", *args]
    return subprocess.run(
        command, cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout
    )


def sqlite_env(db: Path, **extra: str) -> dict[str, str]:
    return {"ASYNCTASQ_DRIVER": "sqlite", "ASYNCTASQ_SQLITE_PATH": str(db), **extra}


async def open_db(db: Path) -> tuple[SQLiteDriver, Dispatcher]:
    driver = SQLiteDriver(db)
    await driver.connect()
    return driver, Dispatcher(driver, Config(driver="sqlite", sqlite_path=str(db)))


async def test_stats_piped_prints_json_for_every_queue_and_worker(tmp_path: Path) -> None:
    db, log = tmp_path / "q.db", str(tmp_path / "effects.log")
    driver, dispatcher = await open_db(db)
    await dispatcher.dispatch_many([Record(key="a", log=log) for _ in range(3)])
    await dispatcher.dispatch(Record(key="later", log=log).on_queue("emails").delay(3600))
    await driver.pause("emails")

    data = json.loads(cli(sqlite_env(db), "stats").stdout)
    by_queue = {q["queue"]: q for q in data["queues"]}
    assert set(by_queue) == {"default", "emails"}
    assert (by_queue["default"]["pending"], by_queue["default"]["active"]) == (3, 0)
    # the JSON keys are the table's column names
    assert list(by_queue["default"]) == ["queue", *COLUMNS, "paused"]
    assert by_queue["emails"]["scheduled"] == 1 and by_queue["emails"]["paused"] is True
    assert data["workers"] == []

    only = json.loads(cli(sqlite_env(db), "stats", "--queue", "emails").stdout)
    assert [q["queue"] for q in only["queues"]] == ["emails"]

    worker = spawn_worker(sqlite_env(db), "--worker-id", "w-stats", queues=("other",))
    try:
        wait_until(
            lambda: json.loads(cli(sqlite_env(db), "stats").stdout)["workers"] != [],
            60,
            "the worker's heartbeat",
        )
        (seen,) = json.loads(cli(sqlite_env(db), "stats").stdout)["workers"]
        assert seen["worker_id"] == "w-stats" and seen["queues"] == ["other"]
        assert set(WORKER_COLUMNS) <= set(seen)
    finally:
        assert stop(worker) == 0
    await driver.disconnect()


def test_stats_at_a_terminal_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    data = {
        "queues": [
            {
                "queue": "emails",
                "pending": 5,
                "active": 1,
                "scheduled": 0,
                "completed": 9,
                "failed": 2,
                "cancelled": 0,
                "paused": True,
            }
        ],
        "workers": [
            {
                "worker_id": "w-1",
                "host": "box",
                "pid": 7,
                "queues": ["emails"],
                "concurrency": 10,
                "active": 1,
                "started_at": 1.0,
                "last_seen": 2.0,
            }
        ],
    }
    for mode in ("plain", "rich"):
        _print(data, mode)  # type: ignore[arg-type]
        out = capsys.readouterr().out
        assert "emails" in out and "w-1" in out and "1/10" in out and "pending" in out
        assert all(column in out for column in WORKER_COLUMNS)


@pytest.mark.slow
async def test_events_piped_prints_json_lines_of_the_live_stream(tmp_path: Path) -> None:
    db, log = tmp_path / "q.db", str(tmp_path / "effects.log")
    driver, dispatcher = await open_db(db)
    await dispatcher.dispatch_many([Record(key=f"k{i}", log=log) for i in range(3)])
    await dispatcher.dispatch(Record(key="elsewhere", log=log).on_queue("other"))
    channel = f"asynctasq-test-{secrets.token_hex(4)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    command = [
        sys.executable, "-m", "asynctasq", "events",
        "--redis-url", local_redis_url(), "--channel", channel,
        "--kind", "task_completed", "--queue", "default", "--count", "3",
    ]  # fmt: skip
    follower = subprocess.Popen(  # noqa: ASYNC220
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert follower.stderr is not None
        assert "following events" in follower.stderr.readline()  # subscribed: safe to start
        events_env = sqlite_env(
            db, ASYNCTASQ_EVENTS_REDIS_URL=local_redis_url(), ASYNCTASQ_EVENTS_CHANNEL=channel
        )
        worker = spawn_worker(events_env, "--burst", queues=("default", "other"))
        assert worker.wait(60) == 0
        out, _ = follower.communicate(timeout=30)
    finally:
        follower.kill()
        await driver.disconnect()
    assert follower.returncode == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3
    assert {line["event_type"] for line in lines} == {"task_completed"}
    assert {line["queue"] for line in lines} == {"default"}
    assert all(line["duration_ms"] >= 0 and line["worker_id"] for line in lines)


def test_events_without_a_stream_says_what_to_set() -> None:
    result = cli({}, "events")
    assert result.returncode == 2
    assert "ASYNCTASQ_EVENTS_REDIS_URL" in result.stderr


def test_events_with_an_unknown_kind_lists_the_known_ones() -> None:
    result = cli({"ASYNCTASQ_EVENTS_REDIS_URL": local_redis_url()}, "events", "--kind", "oops")
    assert result.returncode == 2
    assert "oops" in result.stderr and "task_completed" in result.stderr


def test_every_kind_reads_as_one_line() -> None:
    for kind in EVENT_TYPES:
        event = Event(
            kind,  # type: ignore[arg-type]
            task_id="01J",
            task="app.Send",
            queue="emails",
            attempt=1,
            max_attempts=3,
            duration_ms=3.5,
            error="ValueError: [bold]bad[/]" if kind in ("task_failed", "task_dead") else None,
            progress=0.4 if kind == "task_progress" else None,
            worker_id="w-1",
            host="box",
            pid=7,
            queues=("emails",),
            concurrency=4,
            active=1,
        )
        for rich in (False, True):
            line = describe(event, rich=rich)
            assert kind in line and "\n" not in line
            assert ("w-1" if kind.startswith("worker_") else "app.Send") in line
    failed = describe(Event("task_failed", task="t", error="ValueError: [bold]bad[/]"), rich=True)
    assert "\\[bold]" in failed  # an error text is not rich markup


async def test_json_logs_name_the_job_on_every_record(tmp_path: Path) -> None:
    db, effects = tmp_path / "q.db", str(tmp_path / "effects.log")
    driver, dispatcher = await open_db(db)
    ids = await dispatcher.dispatch_many(
        [LogsInAsync(), LogsInThread(), Explode(key="x", log=effects)]
    )
    await driver.disconnect()
    env = sqlite_env(db, ASYNCTASQ_LOG_FORMAT="json", ASYNCTASQ_LOG_LEVEL="INFO")
    worker = spawn_worker(
        env,
        "--burst",
        "--worker-id",
        "w-json",
        imports="tests.sample_tasks,tests.acceptance.test_cli_monitoring_tasks",
        log_path=tmp_path / "worker.log",
    )
    assert worker.wait(60) == 0
    records = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()]
    assert [r for r in records if r.get("worker_id") != "w-json"] == []
    by_job = {job_id: [r for r in records if r.get("task_id") == job_id] for job_id in ids}
    (charging,) = by_job[ids[0]]
    assert charging["message"] == "charging card" and charging["logger"] == "myapp.billing"
    assert (charging["task_name"], charging["queue"], charging["attempt"]) == (
        "monitoring.logs_in_async",
        "default",
        1,
    )
    (slow,) = by_job[ids[1]]
    assert slow["message"] == "slow bank" and slow["level"] == "WARNING"
    retry, given_up = by_job[ids[2]]
    assert (retry["attempt"], given_up["attempt"]) == (1, 2)
    assert given_up["level"] == "ERROR" and given_up["task_name"] == "tests.sample_tasks.Explode"
    assert any(r["message"].startswith("worker w-json serving") for r in records)


async def test_stats_shows_live_workers_only_and_worker_list_shows_the_dead(
    tmp_path: Path,
) -> None:
    """A worker silent for longer than a heartbeat interval and a grace is gone from
    ``stats``; ``worker list`` shows it as dead until the registry forgets it."""
    db = tmp_path / "q.db"
    now = time.time()
    # heartbeat interval 10 s + ALIVE_GRACE 5 s: silent 16 s is gone already
    for worker_id, silent_for in (("w-live", 1.0), ("w-dead", 10.0 + ALIVE_GRACE + 1.0)):
        driver = SQLiteDriver(db, clock=ManualClock(now - silent_for))
        await driver.connect()
        await driver.heartbeat(WorkerInfo(worker_id, "box", 1, ("default",), 10), ttl=600)
        await driver.disconnect()
    env = sqlite_env(db, ASYNCTASQ_HEARTBEAT_INTERVAL="10")
    stats = json.loads(cli(env, "stats").stdout)
    assert [w["worker_id"] for w in stats["workers"]] == ["w-live"]
    listed = json.loads(cli(env, "worker", "list", "--json").stdout)
    states = {w["worker_id"]: w["status"] for w in listed["workers"]}
    assert states == {"w-live": "alive", "w-dead": "dead"}
