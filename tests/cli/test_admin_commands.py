"""Every operator command as users run it (a subprocess), on each broker with the
admin capabilities; and the one-line failure on a broker without them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from asynctasq.cli.queue import format_rate
from asynctasq.drivers.capabilities import Removal
from asynctasq.jobs import Job, WorkerInfo
from asynctasq.serialization.payload import encode_payload
from tests.backends import Backend
from tests.cli.helpers import cli, cli_json, dead_letters
from tests.conftest import only_backends
from tests.workers import spawn_worker, stop, wait_until

pytestmark = pytest.mark.timeout(120)


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_job_commands(backend: Backend) -> None:
    driver = await backend.new_driver()
    env = backend.env()
    dead = await dead_letters(driver, 5, queue="email")
    (waiting,) = await driver.enqueue([Job(task="t", payload=encode_payload({}), queue="email")])

    page = cli_json(env, "job", "list", "--queue", "email", "--state", "failed", "--limit", "3")
    assert len(page["jobs"]) == 3 and page["next_cursor"]
    rest = cli_json(env, "job", "list", "--queue", "email", "--state", "dead",
                    "--cursor", page["next_cursor"])  # fmt: skip
    assert sorted(j["id"] for j in page["jobs"] + rest["jobs"]) == sorted(dead)
    assert rest["next_cursor"] is None
    (row,) = cli_json(env, "job", "list", "--queue", "email", "--state", "waiting")["jobs"]
    assert row["id"] == waiting and row["state"] == "pending"

    shown = cli_json(env, "job", "show", dead[0])
    assert shown["args"] == {"n": 0, "password": "***"}
    assert "hunter2" not in json.dumps(shown)
    assert "ValueError: bad address for order 0" in shown["traceback"]

    retried = cli_json(env, "job", "retry", dead[0], "--queue", "email")
    assert (retried["done"], retried["skipped"]) == (1, [])
    again = cli(env, "job", "retry", dead[0])  # now pending: refused, exit 1
    assert again.returncode == 1 and json.loads(again.stdout)["skipped"] == [dead[0]]
    dry = cli_json(env, "job", "retry", "--all", "--queue", "email", "--dry-run")
    assert (dry["matched"], dry["done"], dry["dry_run"]) == (4, 0, True)

    cancelled = cli_json(env, "job", "cancel", waiting)
    assert cancelled["done"] == 1
    removal = cli(env, "job", "remove", dead[1], "--json")
    if isinstance(driver, Removal):
        assert removal.returncode == 0 and json.loads(removal.stdout)["done"] == 1
    else:  # the SQL drivers do not offer it yet: one clear line
        assert removal.returncode == 1
        assert removal.stderr.count("\n") == 1 and "Removal" in removal.stderr

    missing = cli(env, "job", "show", "no-such-job")
    assert missing.returncode == 1 and missing.stderr.startswith("asynctasq job show: no job")


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_queue_dlq_worker_and_health_commands(backend: Backend) -> None:
    driver = await backend.new_driver()
    env = backend.env()
    await dead_letters(driver, 3, queue="email")
    await dead_letters(driver, 2, queue="sms", task="app.sms.Send")

    queues = cli_json(env, "queue", "list")["queues"]
    assert {q["queue"]: q["failed"] for q in queues} == {"email": 3, "sms": 2}
    assert cli_json(env, "queue", "pause", "email") == {"queue": "email", "paused": True}
    (email,) = cli_json(env, "queue", "stats", "email")["queues"]
    assert email["paused"] is True and email["failed"] == 3
    cli_json(env, "queue", "resume", "email")
    assert cli_json(env, "queue", "stats", "email")["queues"][0]["paused"] is False

    every = cli_json(env, "dlq", "list")["jobs"]
    assert sorted(j["queue"] for j in every) == ["email"] * 3 + ["sms"] * 2
    only_sms = cli_json(env, "dlq", "retry", "--all", "--queue", "sms")
    assert only_sms["done"] == 2
    assert cli_json(env, "queue", "stats", "sms")["queues"][0]["pending"] == 2

    kept = cli_json(env, "queue", "clean", "email", "--state", "failed", "--older-than", "1h")
    assert kept["deleted"] == 0
    cleaned = cli_json(env, "queue", "clean", "email", "--state", "failed", "--older-than", "0s")
    assert cleaned["deleted"] == 3

    unhealthy = cli(env, "health", "--queue", "email")
    assert unhealthy.returncode == 1 and "no worker serving queue 'email'" in unhealthy.stdout
    info = WorkerInfo("w-cli", "box", 42, ("email",), 8, started_at=1.0)
    await driver.heartbeat(info, ttl=60)  # type: ignore[attr-defined]
    assert cli(env, "health", "--queue", "email", "--max-age", "60").returncode == 0
    (worker,) = cli_json(env, "worker", "list")["workers"]
    assert (worker["worker_id"], worker["queues"], worker["status"]) == (
        "w-cli",
        ["email"],
        "alive",
    )
    time.sleep(0.3)  # silent since: dead to a stricter eye, still in the registry
    (silent,) = cli_json(env, "worker", "list", "--max-age", "0.2")["workers"]
    assert silent["status"] == "dead"
    assert cli(env, "health").returncode == 0


@only_backends("rabbitmq")
async def test_a_broker_without_the_admin_capabilities_says_so_in_one_line(
    backend: Backend,
) -> None:
    env = backend.env()
    for command in (["job", "list"], ["queue", "list"], ["dlq", "retry", "--all"]):
        done = cli(env, *command)
        assert done.returncode == 1, command
        (line,) = done.stderr.splitlines()
        assert "rabbitmq driver does not support" in line and "Inspection" in line
    assert cli(env, "health").returncode == 0  # it answers; only a queue check needs more


def test_broken_settings_fail_in_one_line_without_the_password() -> None:
    env = {"ASYNCTASQ_DRIVER": "postgres",
           "ASYNCTASQ_POSTGRES_DSN": "postgresql://ops:s3cret@127.0.0.1:1/nowhere"}  # fmt: skip
    done = cli(env, "job", "list")
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and "s3cret" not in done.stderr
    assert cli({}, "job", "list", "--state", "sleeping").returncode == 2  # argparse: usage


def test_every_command_shows_an_example_and_the_variables_behind_its_flags() -> None:
    for command in (["job", "list"], ["job", "retry"], ["queue", "clean"], ["dlq", "list"],
                    ["worker", "list"], ["health"]):  # fmt: skip
        text = cli({}, *command, "--help").stdout
        assert "example:" in text and "asynctasq " + command[0] in text, command
        assert "ASYNCTASQ_DRIVER" in text, command


@only_backends("sqlite", "redis", "postgres")
async def test_watch_prints_a_snapshot_per_refresh_when_piped(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 2, queue="email")
    done = cli(backend.env(), "watch", "--count", "2", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["rates_from"] == "counts" and first["queues"][0]["failed_per_s"] is None
    (email,) = second["queues"]
    assert (email["queue"], email["failed"], email["failed_per_s"]) == ("email", 2, 0.0)


@only_backends("sqlite")
async def test_a_worker_health_file_answers_an_exec_probe(backend: Backend, tmp_path: Path) -> None:
    path = tmp_path / "worker.health"
    env = backend.env()
    assert cli(env, "health", "--file", str(path)).returncode == 1  # no worker yet
    worker = spawn_worker(env, "--health-file", str(path), "--heartbeat-interval", "0.2")
    try:
        wait_until(path.exists, 30, "the worker's health file")
        first = json.loads(path.read_text())
        wait_until(lambda: json.loads(path.read_text())["at"] > first["at"], 30, "a heartbeat")
        probe = cli({}, "health", "--file", str(path), "--max-age", "5")  # no broker settings
        assert probe.returncode == 0 and probe.stdout.startswith("ok:")
    finally:
        assert stop(worker) == 0
    assert not path.exists()  # removed on a clean stop
    assert cli({}, "health", "--file", str(path)).returncode == 1


@only_backends("sqlite")
async def test_url_picks_the_broker_over_the_settings(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 2)
    path = backend.env()["ASYNCTASQ_SQLITE_PATH"]
    elsewhere = {"ASYNCTASQ_DRIVER": "redis", "ASYNCTASQ_REDIS_URL": "redis://127.0.0.1:1/0"}
    listed = cli(elsewhere, "dlq", "list", "--url", f"sqlite:///{path}", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["jobs"]) == 2


@only_backends("sqlite", "redis", "postgres", "mysql", "mongodb")
async def test_queue_rate_limit_command(backend: Backend) -> None:
    driver = await backend.new_driver()
    env = backend.env()
    await dead_letters(driver, 1, queue="email")
    stored = cli_json(env, "queue", "rate-limit", "email", "--limit", "20", "--interval", "2")
    assert stored == {"queue": "email", "rate_limit": {"limit": 20, "interval": 2.0, "burst": None}}
    (email,) = cli_json(env, "queue", "stats", "email")["queues"]
    assert email["rate_limit"] == {"limit": 20, "interval": 2.0, "burst": None}
    blocked = cli_json(env, "queue", "rate-limit", "email", "--limit", "0", "--burst", "3")
    assert blocked["rate_limit"] == {"limit": 0, "interval": 1.0, "burst": 3}
    cleared = cli_json(env, "queue", "rate-limit", "email", "--clear")
    assert cleared == {"queue": "email", "rate_limit": None}
    assert cli_json(env, "queue", "stats", "email")["queues"][0]["rate_limit"] is None
    wrong = cli(env, "queue", "rate-limit", "email", "--limit", "-1")
    assert wrong.returncode != 0 and "rate_limit=-1" in wrong.stderr


@only_backends("rabbitmq")
async def test_queue_rate_limit_command_on_a_broker_without_buckets(backend: Backend) -> None:
    refused = cli(backend.env(), "queue", "rate-limit", "email", "--limit", "5")
    assert refused.returncode == 1 and "RateLimits" in refused.stderr


def test_the_rate_limit_column() -> None:
    assert format_rate(None) == ""
    assert format_rate({"limit": 0, "interval": 1.0, "burst": None}) == "blocked"
    assert format_rate({"limit": 20, "interval": 1.0, "burst": None}) == "20/1s"
    assert format_rate({"limit": 100, "interval": 60.0, "burst": 10}) == "100/60s burst 10"


@only_backends("sqlite", "redis", "postgres", "mysql")
async def test_job_list_searches_and_reverses_and_job_remove_all_matches(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    env = backend.env()
    mail = await dead_letters(driver, 3, queue="email")
    sms = await dead_letters(driver, 2, queue="email", task="app.sms.Send")
    email = ["--queue", "email", "--state", "failed"]

    found = cli_json(env, "job", "list", *email, "--search", "SMS.send")["jobs"]
    assert sorted(j["id"] for j in found) == sorted(sms)
    newest = [j["id"] for j in cli_json(env, "job", "list", *email)["jobs"]]
    oldest = [j["id"] for j in cli_json(env, "job", "list", *email, "--reverse")["jobs"]]
    assert oldest == newest[::-1]
    needs = cli(env, "job", "list", "--queue", "email", "--reverse")
    assert needs.returncode != 0 and "--reverse needs --state" in needs.stderr

    dry = cli_json(env, "job", "remove", "--all", *email, "--search", "mail", "--dry-run")
    assert (dry["action"], dry["matched"], dry["done"]) == ("remove", 3, 0)
    removed = cli(env, "job", "remove", "--all", *email, "--search", "mail", "--json")
    if not isinstance(driver, Removal):
        assert removed.returncode == 1 and "Removal" in removed.stderr
        return
    assert removed.returncode == 0 and json.loads(removed.stdout)["done"] == 3
    left = cli_json(env, "job", "list", *email)["jobs"]
    assert sorted(j["id"] for j in left) == sorted(sms) and not set(mail) & {j["id"] for j in left}
    stateless = cli(env, "job", "remove", "--all", "--queue", "email")
    assert stateless.returncode == 1 and "needs a state" in stateless.stderr
