"""examples/workflows runs as its README says: a flow, a chain, a group and a chord on
SQLite, run by a real worker, their results printed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_workflows_example_runs_as_its_readme_says(tmp_path: Path) -> None:
    copy = tmp_path / "workflows"
    shutil.copytree(ROOT / "examples" / "workflows", copy, ignore=shutil.ignore_patterns("*.db*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "main.py"], cwd=copy, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    readme = (copy / "README.md").read_text()
    printed = [line.strip() for line in result.stdout.splitlines()]
    for expected in (
        "flow:  {'a': 28, 'b': 140, 'total': 168}",
        "chain: stored a page of 39 characters",
        "group: [1, 4, 9]",
        "chord: 41",
        "get_flow: ingest=completed, a=completed, b=completed, aggregate=completed",
    ):
        assert expected in printed, result.stdout + result.stderr
        assert expected in readme
    assert "Traceback" not in result.stderr, result.stderr
