"""The incident story of docs/operations.md, end to end through the CLI: a deploy
breaks a task, 500 jobs dead-letter, the operator lists them, reads a traceback,
ships the fix, retries them all with a progress report, and every job completes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.capabilities import Inspection
from tests.backends import Backend
from tests.cli.helpers import cli, cli_json
from tests.cli.incident_tasks import SendReceipt
from tests.conftest import only_backends
from tests.sample_tasks import recorded
from tests.workers import spawn_worker, stop

JOBS = 500
TASKS = "tests.cli.incident_tasks"


@pytest.mark.timeout(180)
@only_backends("sqlite", "redis", "postgres")
async def test_500_dead_letters_found_read_retried_and_completed(
    backend: Backend, tmp_path: Path
) -> None:
    driver = await backend.new_driver()
    assert isinstance(driver, Inspection)
    env, log = backend.env(), str(tmp_path / "receipts.log")
    await Dispatcher(driver, backend.config()).dispatch_many(
        [SendReceipt(order=n, log=log) for n in range(JOBS)]
    )

    # the broken deploy: every job dead-letters
    broken = spawn_worker({**env, "INCIDENT_BUG": "1"}, "--concurrency", "50", imports=TASKS)
    try:
        deadline = time.monotonic() + 120
        while (await driver.stats("default")).failed < JOBS:
            assert time.monotonic() < deadline, "the broken worker never failed every job"
            time.sleep(0.1)
    finally:
        assert stop(broken) == 0

    # 3 a.m.: what is failing, and why?
    page = cli_json(env, "job", "list", "--queue", "default", "--state", "failed", "--limit", "20")
    assert len(page["jobs"]) == 20 and page["next_cursor"]
    assert {j["task"] for j in page["jobs"]} == {"tests.cli.incident_tasks.SendReceipt"}
    assert all(j["error"].startswith("KeyError: 'receipt template missing") for j in page["jobs"])
    shown = cli_json(env, "job", "show", page["jobs"][0]["id"])
    assert "incident_tasks.py" in shown["traceback"] and "KeyError" in shown["traceback"]

    # the fix is deployed; replay every dead letter
    retry = cli(env, "job", "retry", "--all", "--queue", "default", "--state", "failed", "--json")
    assert retry.returncode == 0, retry.stderr
    assert f"retrying: {JOBS}/{JOBS}" in retry.stderr  # the progress report
    assert '"done":500' in retry.stdout

    fixed = spawn_worker(env, "--burst", "--concurrency", "50", imports=TASKS)
    assert fixed.wait(120) == 0
    assert sorted(map(int, recorded(log))) == list(range(JOBS))  # each job ran once
    (queue,) = cli_json(env, "queue", "stats", "default")["queues"]
    assert (queue["failed"], queue["pending"], queue["active"]) == (0, 0, 0)
