"""Worker subprocesses for acceptance, concurrency and chaos tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spawn_worker(
    env: Mapping[str, str],
    *args: str,
    queues: Sequence[str] = ("default",),
    imports: str = "tests.sample_tasks",
    log_path: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``python -m asynctasq worker`` with ``env`` (ASYNCTASQ_* for the broker)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    full_env.update(env)
    full_env.setdefault("ASYNCTASQ_LOG_LEVEL", "WARNING")
    command = [
        sys.executable,
        "-m",
        "asynctasq",
        "worker",
        "--queues",
        ",".join(queues),
        "--import",
        imports,
        *args,
    ]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, then the exit code (SIGKILL if it will not go)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError("worker ignored SIGTERM") from None
