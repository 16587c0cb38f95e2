"""The examples of docs/scheduling.md run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.acceptance.test_docs import clean_env
from tests.workers import ROOT

DOC = (ROOT / "docs" / "scheduling.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.DOTALL)


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_task_definitions_import(tmp_path: Path) -> None:
    definitions = BLOCKS[0]
    assert "@task(" in definitions and "cron=" in definitions
    done = _run(definitions, tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_queue_example_runs(tmp_path: Path) -> None:
    example = BLOCKS[1]
    done = _run(example, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ping", "reports:myapp.tasks.report"]
    assert " 0 3 * * * " in lines[1]


def test_the_slot_example_defines_its_task(tmp_path: Path) -> None:
    (example,) = [block for block in BLOCKS if "scheduled_for" in block]
    done = _run(example + "\nprint(DailyTotals.task_config)\n", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "'cron': '0 1 * * *'" in done.stdout
