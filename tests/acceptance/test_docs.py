"""The README and the quickstart run as written."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.workers import ROOT, stop, wait_until

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.DOTALL)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env.update(extra)
    return env


def states(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT CASE WHEN state = 'pending' AND run_at > ? THEN 'scheduled' ELSE state END, "
            "COUNT(*) FROM asynctasq_jobs GROUP BY 1",
            (time.time(),),
        ).fetchall()
    return dict(rows)


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    tasks, app = BLOCKS[:2]
    (config,) = [b for b in BLOCKS if "set_global_config(config)" in b]
    assert tasks.startswith("# tasks.py") and "asyncio.run(main())" in app
    (tmp_path / "tasks.py").write_text(tasks)
    (tmp_path / "app.py").write_text(app)
    db = tmp_path / "asynctasq.db"
    env = clean_env()
    dispatched = subprocess.run(
        [sys.executable, "app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dispatched.returncode == 0, dispatched.stderr
    assert dispatched.stdout.startswith("dispatched ")
    assert states(db) == {"pending": 2, "scheduled": 2}
    command = re.search(r"^python -m asynctasq worker .*$", README, re.MULTILINE)
    assert command is not None
    worker = subprocess.Popen(
        [sys.executable, *command.group(0).split()[1:]], cwd=tmp_path, env=env
    )
    wait_until(lambda: states(db) == {"scheduled": 2}, 60, "the two immediate jobs to finish")
    assert stop(worker) == 0
    exec(compile(config, "README config block", "exec"), {})


def test_the_quickstart_demo_runs_and_ends_by_itself(tmp_path: Path) -> None:
    copy = tmp_path / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", copy)
    result = subprocess.run(
        [sys.executable, "main.py"],
        cwd=copy,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line in (
        "[AsyncTask]        sent welcome email to ada@example.com",
        "[SyncTask]         resized cat.png to 640px wide",
        "[SyncProcessTask]  hashed a password in a pool process",
        "charging order 42, attempt 3",
        "[failed hook]      order 42 given up: payment gateway unreachable",
        "[@task, delayed]   reminder sent to ada@example.com",
        "dead letter: tasks.ChargeCard after 3 attempts: ConnectionError: payment gateway",
        "done: the worker exited with code 0",
    ):
        assert line in out
    assert out.count("sent welcome email") == 4
