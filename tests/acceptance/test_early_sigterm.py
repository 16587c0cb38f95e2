"""A worker that gets SIGTERM while it is still starting exits cleanly (code 0).

Deploys and autoscalers stop workers at any moment, including the first few hundred
milliseconds while tasks are imported and the broker is reached; the entry point
records the signal and the worker honours it as soon as its own handlers exist.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.workers import ROOT


def test_sigterm_during_start_up_stops_the_worker_gracefully(tmp_path: Path) -> None:
    env = {
        "ASYNCTASQ_DRIVER": "sqlite",
        "ASYNCTASQ_SQLITE_PATH": str(tmp_path / "q.db"),
        "PATH": "/usr/bin:/bin",
    }
    # the entry point runs about 0.2 s after the process starts here; the task module
    # then takes a second to import
    for delay in (0.5, 0.9):
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "asynctasq",
                "worker",
                "--queues",
                "default",
                "--import",
                "tests.acceptance.slow_start_tasks",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        time.sleep(delay)
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0, f"after {delay}s: {worker.returncode}\n{out.decode()}"


def test_other_commands_still_stop_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        "ASYNCTASQ_DRIVER": "sqlite",
        "ASYNCTASQ_SQLITE_PATH": str(tmp_path / "q.db"),
        "PATH": "/usr/bin:/bin",
    }
    stats = subprocess.Popen(
        [sys.executable, "-m", "asynctasq", "stats", "--watch", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    stats.send_signal(signal.SIGINT)
    assert stats.wait(timeout=15) in (130, -signal.SIGINT, 1)
