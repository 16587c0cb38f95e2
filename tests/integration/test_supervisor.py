"""``asynctasq worker --processes N``: a supervisor and N worker processes, on brokers
that several processes share. Jobs record each run in a file (tests/sample_tasks.py),
so a test sees what ran, where, and how often."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from asynctasq.cli.stats import grouped
from asynctasq.cli.supervisor import child_argv, processes_wanted
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Inspection, WorkerRegistry
from asynctasq.jobs import WorkerInfo
from tests.backends import Backend
from tests.conftest import only_backends
from tests.sample_tasks import Record, recorded
from tests.workers import spawn_worker

pytestmark = pytest.mark.slow  # worker processes start and stop: seconds each


async def live_workers(driver: Driver) -> list[WorkerInfo]:
    assert isinstance(driver, WorkerRegistry)
    return await driver.list_workers()


async def until(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def group_of(driver: Driver, size: int) -> list[WorkerInfo]:
    """The workers of one supervisor, once ``size`` of them are alive."""

    async def check() -> list[WorkerInfo]:
        workers = await live_workers(driver)
        if len(workers) == size and len({w.supervisor for w in workers}) == 1:
            return workers
        return []

    return await until(check, 30, f"{size} worker processes of one supervisor")  # type: ignore[no-any-return]


def supervisor(
    backend: Backend, tmp_path: Path, *args: str, imports: str = "tests.sample_tasks"
) -> subprocess.Popen[bytes]:
    """``asynctasq worker --processes 2``, logging to supervisor.log."""
    env = {**backend.env(), "ASYNCTASQ_LOG_LEVEL": "INFO"}
    return spawn_worker(
        env, "--processes", "2", *args, imports=imports, log_path=tmp_path / "supervisor.log"
    )


def wait_exit(process: subprocess.Popen[bytes], tmp_path: Path, timeout: float = 30) -> int:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError((tmp_path / "supervisor.log").read_text()) from None


async def ran_at_least(log: str, count: int) -> None:
    async def enough() -> bool:
        return len(recorded(log)) >= count

    await until(enough, 30, f"{count} jobs to run")


def stopped(group: subprocess.Popen[bytes], tmp_path: Path) -> str:
    """SIGTERM to the supervisor: it exits 0 once its processes did. Its log."""
    group.send_signal(signal.SIGTERM)
    code = wait_exit(group, tmp_path)
    text = (tmp_path / "supervisor.log").read_text()
    assert code == 0, text
    return text


def test_processes_and_child_command_line() -> None:
    assert processes_wanted("3") == 3
    assert processes_wanted("auto") == (os.cpu_count() or 1)
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(ValueError, match="--processes"):
            processes_wanted(bad)
    argv = child_argv(["worker", "--processes", "2", "--queues", "a", "--processes=3"])
    assert argv[1:] == ["-m", "asynctasq", "worker", "--queues", "a"]


@only_backends("sqlite", "redis")
async def test_n_processes_serve_as_one_group(backend: Backend, tmp_path: Path) -> None:
    driver = await backend.new_driver()
    log = str(tmp_path / "runs.log")
    group = supervisor(backend, tmp_path)
    try:
        workers = await group_of(driver, 2)
        assert len({w.pid for w in workers}) == 2  # two processes, one host, one group
        assert len({w.host for w in workers}) == 1 and workers[0].supervisor
        assert group.pid not in {w.pid for w in workers}  # the supervisor runs no jobs
        dispatcher = Dispatcher(driver, backend.config())
        await dispatcher.dispatch_many(Record(key=str(i), log=log) for i in range(200))
        await ran_at_least(log, 200)
    finally:
        stopped(group, tmp_path)
    assert Counter(recorded(log)) == {str(i): 1 for i in range(200)}
    assert await live_workers(driver) == []  # each child left the registry on its way out


@only_backends("sqlite", "redis")
async def test_a_crashed_process_is_started_again(backend: Backend, tmp_path: Path) -> None:
    driver = await backend.new_driver()
    group = supervisor(backend, tmp_path)
    try:
        first = await group_of(driver, 2)
        victim = first[0].pid
        os.kill(victim, signal.SIGKILL)  # no goodbye: its record lingers until it expires
        assert isinstance(driver, WorkerRegistry)
        await driver.remove_worker(first[0].worker_id)

        async def replaced() -> bool:
            pids = {w.pid for w in await live_workers(driver)}
            return len(pids) == 2 and victim not in pids and first[1].pid in pids

        await until(replaced, 30, "a new process in place of the killed one")
    finally:
        text = stopped(group, tmp_path)
    assert f"(pid {victim}) exited with signal SIGKILL" in text


@only_backends("sqlite")
def test_a_process_that_keeps_crashing_is_restarted_ever_more_slowly(
    backend: Backend, tmp_path: Path
) -> None:
    """A child that cannot start (its task module is missing) exits at once: the
    supervisor waits 0.5 s, then 1 s, then 2 s... not a tight loop."""
    group = supervisor(backend, tmp_path, imports="tests.no_such_module")
    log = tmp_path / "supervisor.log"
    # until a slot's third restart is announced (each start takes a child's imports:
    # up to a second or more on a loaded host, so no fixed sleep)
    deadline = time.monotonic() + 60
    while "starting another in 2.0s" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    group.send_signal(signal.SIGTERM)
    code = wait_exit(group, tmp_path)
    text = log.read_text()
    assert code == 1, text  # the children never exited 0
    restarts = text.count("starting another in")
    # 2 slots x 3 restarts (0.5, 1, 2 s) by then, give or take one: not a tight loop
    assert 3 <= restarts <= 8, text
    assert "starting another in 1.0s" in text and "starting another in 2.0s" in text


@only_backends("sqlite", "redis")
async def test_sigterm_stops_every_process_gracefully_and_loses_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    driver = await backend.new_driver()
    log = str(tmp_path / "runs.log")
    dispatcher = Dispatcher(driver, backend.config())
    total = 60
    await dispatcher.dispatch_many(Record(key=str(i), log=log, seconds=0.3) for i in range(total))
    group = supervisor(backend, tmp_path, "--concurrency", "5", "--shutdown-timeout", "20")
    try:
        await group_of(driver, 2)
        await ran_at_least(log, 10)
    finally:
        stopped(group, tmp_path)
    ran = Counter(recorded(log))
    assert all(n == 1 for n in ran.values())  # nothing ran twice
    assert isinstance(driver, Inspection)
    stats = await driver.stats("default")
    assert stats.processing == 0  # every job in flight finished
    assert len(ran) + stats.depth == total  # the rest waits in the queue: none lost
    assert len(ran) < total


@only_backends("sqlite")
def test_sigterm_while_the_supervisor_starts_stops_it_cleanly(
    backend: Backend, tmp_path: Path
) -> None:
    group = supervisor(backend, tmp_path, imports="tests.acceptance.slow_start_tasks")
    time.sleep(0.3)  # the supervisor is still importing
    group.send_signal(signal.SIGTERM)
    assert wait_exit(group, tmp_path) == 0, (tmp_path / "supervisor.log").read_text()
    assert not _children_of(group.pid)


@only_backends("sqlite")
def test_the_processes_stop_when_the_supervisor_is_killed(backend: Backend, tmp_path: Path) -> None:
    group = supervisor(backend, tmp_path)
    deadline = time.monotonic() + 30
    while len(_children_of(group.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = _children_of(group.pid)
    assert len(children) == 2
    group.kill()
    group.wait(10)
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, (tmp_path / "supervisor.log").read_text()


def _children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []


def test_stats_show_a_group_as_one_row_with_its_pids() -> None:
    def record(pid: int, supervisor: str | None) -> dict[str, object]:
        info = WorkerInfo(f"h:{pid}:x", "h", pid, ("q",), 10, 2, 100.0 + pid, 200.0, supervisor)
        return dataclasses.asdict(info)

    rows = grouped([record(1, "h:9:s"), record(2, "h:9:s"), record(3, None)])
    assert [(r["worker_id"], r["pid"], r["active"], r["concurrency"]) for r in rows] == [
        ("h:9:s (2 processes)", "1,2", 4, 20),
        ("h:3:x", 3, 2, 10),
    ]
    assert rows[0]["started_at"] == 101.0


def test_the_memory_broker_cannot_have_processes(tmp_path: Path) -> None:
    group = spawn_worker(
        {"ASYNCTASQ_DRIVER": "memory"}, "--processes", "2", log_path=tmp_path / "out"
    )
    assert group.wait(30) == 2
    assert "lives inside one process" in (tmp_path / "out").read_text()
