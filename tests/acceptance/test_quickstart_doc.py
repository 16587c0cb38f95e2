"""docs/quickstart.md runs as written, from an empty directory: its files, its app, its
worker command, and the worker inside an app."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.workers import ROOT

PAGE = (ROOT / "docs" / "quickstart.md").read_text()
FILES = {
    block.split("\n", 1)[0].removeprefix("# "): block
    for block in re.findall(r"```python\n(.*?)```", PAGE, re.DOTALL)
}


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env["PYTHONPATH"] = str(ROOT)  # what `pip install -e .` in the clone gives
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    assert sorted(FILES) == ["app.py", "tasks.py", "worker_in_app.py"]
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)

    app = run([sys.executable, "app.py"], tmp_path)
    assert app.returncode == 0, app.stderr
    assert app.stdout.startswith("enqueued ")
    assert "emails: {'waiting': 3, 'delayed': 1, 'active': 0, 'completed': 0," in app.stdout

    command = re.search(r"^python -m asynctasq worker .*$", PAGE, re.MULTILINE)
    assert command is not None
    worker = run([sys.executable, *command.group(0).split()[1:]], tmp_path)
    assert worker.returncode == 0, worker.stderr
    for line in (
        "welcome mail sent to ada@example.com",
        "welcome mail sent to bob@example.com",
        "welcome mail sent to cy@example.com",
        "report of 3 rows built",
    ):
        assert line in worker.stdout, worker.stdout + worker.stderr
    assert "later@example.com" not in worker.stdout  # due in an hour: left for later
    assert worker.stderr.count("completed in") == 4

    in_app = run([sys.executable, "worker_in_app.py"], tmp_path)
    assert in_app.returncode == 0, in_app.stderr
    assert "report of 2 rows built" in in_app.stdout
    assert in_app.stdout.strip().endswith("reports queue drained")
