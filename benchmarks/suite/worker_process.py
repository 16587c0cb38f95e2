"""Worker processes under test: start them, watch their memory, stop them.

Each worker runs in a session of its own, so what it forks (Celery's prefork pool,
asynctasq's process pool, Dramatiq's workers) can be stopped with it. Memory is the
peak resident set (VmHWM, which the kernel tracks exactly) of every process in the
worker's tree, summed: a pool of processes costs what all of them hold.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from benchmarks.suite.protocol import WorkerSpec

ROOT = Path(__file__).resolve().parents[2]


class WorkerGroup:
    """One or more identical worker processes started together."""

    def __init__(self, specs: Sequence[WorkerSpec], env: Mapping[str, str], log: Path) -> None:
        self.specs = list(specs)
        self.env = dict(env)
        self.log = log
        self.processes: list[subprocess.Popen[bytes]] = []
        self._peak_kib: dict[int, int] = {}

    def start(self) -> None:
        with open(self.log, "ab") as out:
            for spec in self.specs:
                env = {**os.environ, **self.env, **spec.env}
                self.processes.append(
                    subprocess.Popen(
                        spec.argv,
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def dead(self) -> list[int]:
        """Exit codes of workers that stopped on their own."""
        return [code for p in self.processes if (code := p.poll()) is not None]

    def sample_memory(self) -> None:
        for root in self.processes:
            try:
                tree = [psutil.Process(root.pid)]
                tree += tree[0].children(recursive=True)
            except psutil.Error:
                continue
            for proc in tree:
                peak = _peak_kib(proc)
                if peak is not None:
                    self._peak_kib[proc.pid] = max(peak, self._peak_kib.get(proc.pid, 0))

    def peak_rss_mib(self) -> float:
        return sum(self._peak_kib.values()) / 1024

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (each system's graceful stop), then SIGKILL the whole session."""
        for p in self.processes:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
        for p in self.processes:
            # a supervisor's children run in sessions of their own: found by parentage
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(p.pid).children(recursive=True):
                    child.kill()
            # the session holds what the worker forked, even when the worker is gone
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            if p.poll() is None:
                p.wait(10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _peak_kib(proc: psutil.Process) -> int | None:
    try:
        with open(f"/proc/{proc.pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:  # not Linux: the current resident set, sampled
        return int(proc.memory_info().rss // 1024)
    except psutil.Error:
        return None
