"""The rate limit examples of docs/flow-control.md run as written and set what the
page says they set."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.acceptance.test_docs import clean_env
from tests.workers import ROOT

DOC = (ROOT / "docs" / "flow-control.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.DOTALL)


def _block(marker: str) -> str:
    (found,) = [block for block in BLOCKS if marker in block]
    return found


def _run(code: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_rate_limit_example_defines_limited_tasks(tmp_path: Path) -> None:
    check = (
        "\nprint(send_newsletter.task_config['rate_limit'],"
        " send_newsletter.task_config['rate_interval'],"
        " CallPartnerApi.task_config['rate_limit'])\n"
    )
    assert _run(_block("send_newsletter") + check, tmp_path) == ["100 60.0 5"]


def test_the_queue_limit_example_stores_and_removes_the_limit(tmp_path: Path) -> None:
    lines = _run(_block('Queue("partner-api"'), tmp_path)
    assert lines == ["RateLimit(limit=20, interval=1.0, burst=None)", "None"]
    assert (tmp_path / "jobs.db").exists()  # the broker the example named


def test_the_per_key_example_declares_keys(tmp_path: Path) -> None:
    check = (
        "\nprint(sync_customer.task_config['rate_limit_key'](sync_customer(customer_id=7)),"
        " PushToTenant(tenant='acme').rate_limit_key())\n"
    )
    assert _run(_block("rate_limit_key") + check, tmp_path) == ["7 acme"]


def test_the_deduplication_example_refuses_its_duplicates(tmp_path: Path) -> None:
    (example,) = [block for block in BLOCKS if "unique_mode=" in block]
    done = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,  # the default broker: SQLite in a file here
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


def test_the_concurrency_key_example_runs(tmp_path: Path) -> None:
    (example,) = [block for block in BLOCKS if "max_concurrency" in block]
    done = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,  # the default broker: SQLite in a file here
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
