"""``python -m asynctasq worker --metrics-port``: a real worker process serves
/metrics while it works through a SQLite queue."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import pytest

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.sqlite import SQLiteDriver
from tests.backends_redis import free_port
from tests.integration.test_metrics import sample
from tests.sample_tasks import Record, recorded
from tests.workers import spawn_worker, stop, wait_until


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return str(reply.read().decode())
    except OSError:
        return ""


@pytest.mark.slow
async def test_the_worker_cli_serves_metrics_that_move(tmp_path: Path) -> None:
    db, log = tmp_path / "q.db", str(tmp_path / "effects.log")
    driver = SQLiteDriver(db)
    await driver.connect()
    await Dispatcher(driver, Config(driver="sqlite", sqlite_path=str(db))).dispatch_many(
        Record(key=f"k{i}", log=log, seconds=0.05) for i in range(60)
    )
    port = free_port()
    env = {"ASYNCTASQ_DRIVER": "sqlite", "ASYNCTASQ_SQLITE_PATH": str(db)}
    worker = spawn_worker(
        env, "--metrics-port", str(port), "--concurrency", "2", log_path=tmp_path / "w.log"
    )
    completed = lambda text: sample(  # noqa: E731
        text, "asynctasq_jobs_total", task="tests.sample_tasks.Record", outcome="completed"
    )
    try:
        wait_until(lambda: completed(scrape(port)) > 0, 60, "a first completed job on /metrics")
        first = completed(scrape(port))
        wait_until(lambda: completed(scrape(port)) > first, 30, "the counter to move")
        wait_until(lambda: len(recorded(log)) == 60, 60, "every job")
        deadline = time.monotonic() + 30
        while completed(text := scrape(port)) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert completed(text) == 60
        assert sample(text, "asynctasq_worker_concurrency") == 2
        assert "asynctasq_queue_jobs" in text and "asynctasq_job_duration_seconds_bucket" in text
    finally:
        assert stop(worker) == 0, (tmp_path / "w.log").read_text()
        await driver.disconnect()


def test_a_busy_metrics_port_stops_the_worker_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"ASYNCTASQ_DRIVER": "sqlite", "ASYNCTASQ_SQLITE_PATH": str(tmp_path / "q.db")}
        worker = spawn_worker(env, "--metrics-port", str(port), log_path=tmp_path / "w.log")
        assert worker.wait(60) == 2
    output = (tmp_path / "w.log").read_text()
    assert f":{port}" in output and "--metrics-port" in output
