"""A few worker subprocesses that a chaos test kills, restarts and stops, and the
arithmetic of what happened to the jobs they ran."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asynctasq.drivers.base import Driver
from asynctasq.jobs import Job, JobState
from tests.workers import spawn_worker


class Fleet:
    """``size`` workers with the same settings; killed ones can be replaced."""

    def __init__(
        self,
        env: Mapping[str, str],
        size: int,
        *args: str,
        log_dir: Path,
        imports: str = "tests.sample_tasks",
        queues: Sequence[str] = ("default",),
    ) -> None:
        self.env = dict(env)
        self.size = size
        self.args = args
        self.log_dir = log_dir
        self.imports = imports
        self.queues = queues
        self.workers: list[subprocess.Popen[bytes]] = []
        self.kills = 0
        self.started = 0
        self._random = random.Random(7)

    def spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        return spawn_worker(
            self.env,
            *self.args,
            queues=self.queues,
            imports=self.imports,
            log_path=self.log_dir / f"worker-{self.started}.log",
        )

    def start(self) -> Fleet:
        self.workers = [self.spawn() for _ in range(self.size)]
        return self

    def kill_one(self) -> int:
        """SIGKILL a random live worker and start its replacement; returns its pid."""
        index = self._random.randrange(len(self.workers))
        victim = self.workers[index]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        self.kills += 1
        self.workers[index] = self.spawn()
        return victim.pid

    def restart_dead(self) -> int:
        """Replace workers that exited on their own; returns how many."""
        dead = [i for i, w in enumerate(self.workers) if w.poll() is not None]
        for index in dead:
            self.workers[index] = self.spawn()
        return len(dead)

    def stop(self, timeout: float = 30) -> list[int]:
        """SIGTERM every worker; their exit codes (SIGKILL after ``timeout``)."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = []
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            try:
                codes.append(worker.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                worker.kill()
                codes.append(worker.wait())
        return codes

    def kill_all(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )


async def until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def settled(driver: Driver, queue: str = "default") -> bool:
    """Nothing pending, scheduled or active in ``queue``."""
    stats = await driver.stats(queue)
    return not (stats.depth or stats.scheduled or stats.processing)


async def completed(driver: Driver, ids: Sequence[str]) -> bool:
    for job_id in ids:
        job = await driver.get(job_id)
        if job is None or job.state is not JobState.COMPLETED:
            return False
    return True


def kill_left_over(*workers: subprocess.Popen[bytes] | None) -> None:
    for worker in workers:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()


async def all_jobs(driver: Driver, queue: str, state: JobState, page: int = 1000) -> list[Job]:
    jobs: list[Job] = []
    while True:
        batch = await driver.list_jobs(queue, state, limit=page, offset=len(jobs))
        jobs.extend(batch)
        if len(batch) < page:
            return jobs


@dataclass
class ChaosReport:
    """What a chaos run did to its jobs, for the test output and docs/reliability.md."""

    backend: str
    jobs: int
    kills: int = 0
    outages: int = 0
    seconds: float = 0.0
    runs: Counter[str] = field(default_factory=Counter)
    completed: int = 0
    retried_attempts: int = 0  # jobs whose attempt was counted again (recovered)

    @property
    def lost(self) -> int:
        """Jobs whose side effect never happened."""
        return self.jobs - len(self.runs)

    @property
    def ran_more_than_once(self) -> int:
        return sum(1 for n in self.runs.values() if n > 1)

    @property
    def extra_runs(self) -> int:
        return sum(n - 1 for n in self.runs.values() if n > 1)

    def __str__(self) -> str:
        return (
            f"chaos[{self.backend}]: {self.jobs} jobs, {self.kills} kill -9, "
            f"{self.outages} broker outage(s), {self.seconds:.1f}s; completed {self.completed}, "
            f"lost {self.lost}; recovered after a crash {self.retried_attempts}; "
            f"ran more than once {self.ran_more_than_once} ({self.extra_runs} extra run(s))"
        )
