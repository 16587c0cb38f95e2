"""``asynctasq schedule ...`` as users run it (a subprocess), on a broker that stores
schedules, and the one-line failure on one that does not."""

from __future__ import annotations

import time

import pytest

from asynctasq.core.scheduling.scheduler import register
from asynctasq.drivers.capabilities import Inspection, Schedules
from asynctasq.jobs import JobState
from asynctasq.schedules import Schedule
from tests.backends import Backend
from tests.cli.helpers import cli, cli_json
from tests.conftest import only_backends, skip_without

pytestmark = pytest.mark.timeout(120)


@only_backends("redis", "postgres", "rabbitmq", "mongodb")
async def test_schedule_commands(backend: Backend) -> None:
    driver = await backend.new_driver()
    env = backend.env()
    if not isinstance(driver, Schedules):
        done = cli(env, "schedule", "list")
        assert done.returncode == 1 and done.stderr.count("\n") == 1
        assert "Schedules" in done.stderr
        return
    skip_without(backend, Inspection)
    nightly = Schedule(id="nightly", task="app.report", payload=b"", queue="reports",
                       cron="0 3 * * *", timezone="Europe/Paris")  # fmt: skip
    await register(driver, [nightly], time.time())
    (row,) = cli_json(env, "schedule", "list")["schedules"]
    assert (row["id"], row["cron"], row["paused"]) == ("nightly", "0 3 * * *", False)
    assert row["next_run"].endswith(("02:00:00+00:00", "01:00:00+00:00"))  # 03:00 Paris

    assert cli_json(env, "schedule", "pause", "nightly")["action"] == "pause"
    assert cli_json(env, "schedule", "list")["schedules"][0]["paused"] is True
    cli_json(env, "schedule", "resume", "nightly")
    assert cli_json(env, "schedule", "list")["schedules"][0]["paused"] is False

    job_id = cli_json(env, "schedule", "run-now", "nightly")["job_id"]
    assert isinstance(driver, Inspection)
    job = await driver.get(job_id)
    assert job is not None and job.task == "app.report" and job.state is JobState.PENDING

    cli_json(env, "schedule", "remove", "nightly")
    assert cli_json(env, "schedule", "list")["schedules"] == []
    missing = cli(env, "schedule", "pause", "nightly")
    assert missing.returncode == 1
    assert missing.stderr.startswith("asynctasq schedule pause: no schedule 'nightly'")
