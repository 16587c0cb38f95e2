"""The process pool after things went wrong in it: a process that died while idle
is replaced before it gets a job, and one that ran out of memory is retired."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from asynctasq.core.worker.process_pool import ProcessPool
from asynctasq.serialization.payload import encode_payload
from tests.chaos.fleet import until
from tests.chaos.tasks import ProcessOutOfMemory
from tests.integration.process_tasks import Pid

pytestmark = pytest.mark.timeout(60)


def payload(**args: object) -> bytes:
    return encode_payload(args, {})


async def _dead(pid: int) -> bool:
    """Exited (a zombie until the pool reaps it, or gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def test_a_pool_process_killed_while_idle_is_replaced_before_its_next_job() -> None:
    pool = ProcessPool(1, modules=["tests.integration.process_tasks"])
    try:
        first = await pool.run(Pid.task_name, payload())
        os.kill(first, signal.SIGKILL)  # the OOM killer picks the idle process
        await until(lambda: _dead(first), 10, "the pool process to die")
        second = await pool.run(Pid.task_name, payload())
    finally:
        await pool.close()
    assert second != first  # the job ran, on a new process, instead of failing
    assert pool.replaced == 1


async def test_a_process_that_ran_out_of_memory_is_retired(tmp_path: Path) -> None:
    pool = ProcessPool(1, modules=["tests.integration.process_tasks", "tests.chaos.tasks"])
    log = str(tmp_path / "effects.log")
    try:
        before = await pool.run(Pid.task_name, payload())
        with pytest.raises(MemoryError):
            await pool.run(ProcessOutOfMemory.task_name, payload(key="oom", log=log))
        after = await pool.run(Pid.task_name, payload())
    finally:
        await pool.close()
    # the process kept its lowered address-space limit: it is not reused
    assert after != before
