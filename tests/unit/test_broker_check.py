"""CI never skips a broker: a test run whose brokers do not all answer fails at once,
naming the server and how to start it; leaving one out takes an explicit flag.

Each case runs pytest in a subprocess on a few contract tests, with Redis pointed
at a port where nothing listens."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.services import START
from tests.workers import ROOT

NOWHERE = "redis://127.0.0.1:1/0"  # port 1: nothing answers there
TESTS = ["tests/drivers/test_conformance.py", "-k", "connect_is_idempotent"]


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    environ.update(ASYNCTASQ_TEST_REDIS_URL=NOWHERE, **env)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *TESTS, *args]
    return subprocess.run(
        command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_an_unreachable_broker_fails_the_run_naming_it_and_how_to_start_it() -> None:
    run = _pytest("--backends", "memory,redis")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    (line,) = [line for line in run.stdout.splitlines() if line.startswith("redis:")]
    assert "Redis is not reachable" in line and NOWHERE in line
    assert f"Start it: {START}" in line
    assert "--backends memory (or --allow-missing-brokers)" in line
    assert "passed" not in run.stdout  # nothing ran


def test_leaving_a_broker_out_takes_a_flag_and_is_reported() -> None:
    run = _pytest("--backends", "memory,redis", "--allow-missing-brokers")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "left out (--allow-missing-brokers): redis, not reachable" in run.stdout
    assert "1 passed" in run.stdout and "skipped" not in run.stdout


def test_brokers_not_selected_are_deselected_not_checked() -> None:
    run = _pytest(ASYNCTASQ_TEST_BACKENDS="memory")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout and "deselected" in run.stdout
    assert "skipped" not in run.stdout and "not reachable" not in run.stdout


def test_an_unknown_broker_name_is_a_usage_error() -> None:
    run = _pytest("--backends", "memory,cassandra")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unknown broker(s) cassandra" in run.stderr
