"""examples/middleware runs as its README says: three middleware of ours, named on the
command line (--middleware), around a real worker's jobs on SQLite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_middleware_example_runs_as_its_readme_says(tmp_path: Path) -> None:
    copy = tmp_path / "middleware"
    shutil.copytree(ROOT / "examples" / "middleware", copy, ignore=shutil.ignore_patterns("*.db*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    result = subprocess.run(
        [sys.executable, "main.py"], cwd=copy, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for expected in (
        "[error tracker] tasks.Charge attempt 1: ConnectionError('payment gateway timed out')",
        "[audit] tasks.Charge attempt 1: retried: ConnectionError: payment gateway timed out",
        "[audit] tasks.Charge attempt 2: completed",
        "[audit] tasks.SendNewsletter attempt 1: failed: disabled by the kill switch "
        "(DISABLED_TASKS)",
        "3. tasks.Charge is completed after 2 attempt(s)",
        "3. tasks.SendNewsletter is failed after 1 attempt(s): disabled by the kill switch "
        "(DISABLED_TASKS)",
    ):
        assert expected in lines, result.stdout + result.stderr
    assert "newsletter sent" not in result.stdout  # the kill switch kept it from running
    # the error tracker sees the task's exception before retries: the line comes first
    assert lines.index(
        "[error tracker] tasks.Charge attempt 1: ConnectionError('payment gateway timed out')"
    ) < lines.index(
        "[audit] tasks.Charge attempt 1: retried: ConnectionError: payment gateway timed out"
    )
    assert "Traceback" not in result.stderr, result.stderr
