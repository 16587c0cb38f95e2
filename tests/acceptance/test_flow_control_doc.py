"""The rate limit example of docs/flow-control.md runs as written and sets what the
page says it sets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.acceptance.test_docs import clean_env
from tests.workers import ROOT

DOC = (ROOT / "docs" / "flow-control.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.DOTALL)


def test_the_rate_limit_example_defines_limited_tasks(tmp_path: Path) -> None:
    (example,) = [block for block in BLOCKS if "rate_limit=" in block]
    check = (
        "\nprint(send_newsletter.task_config['rate_limit'],"
        " send_newsletter.task_config['rate_interval'],"
        " CallPartnerApi.task_config['rate_limit'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", example + check],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["100", "60.0", "5"]


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
