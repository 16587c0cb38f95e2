"""A fresh interpreter, for checks that must not touch the test process (what an
import loads, the garbage collector's state)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_python(argv: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``python *argv`` in ``cwd``, with no ASYNCTASQ_* setting but the SQLite file
    ``cwd/q.db`` and ``extra_env``; it must succeed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env.update(ASYNCTASQ_SQLITE_PATH=str(cwd / "q.db"), **extra_env)
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done
