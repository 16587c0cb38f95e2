"""Running the CLI as users do (a subprocess) and making dead letters fast (through
the driver's core: enqueue, claim, settle as failed; no worker needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from asynctasq.drivers.base import Driver
from asynctasq.jobs import Failed, Job
from asynctasq.serialization.payload import encode_payload
from tests.workers import ROOT

ERROR = (
    "ValueError: bad address for order {n}\n\nTraceback (most recent call last):\n"
    '  File "app/mail.py", line 12, in execute\nValueError: bad address for order {n}'
)


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    full.update(env)
    command = [sys.executable, "-m", "asynctasq", *args]
    return subprocess.run(
        command, cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout
    )


def cli_json(env: dict[str, str], *args: str) -> Any:
    """The JSON a command prints; the command must succeed."""
    done = cli(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def dead_letters(
    driver: Driver, count: int, *, queue: str = "default", task: str = "app.mail.Send"
) -> list[str]:
    """``count`` jobs of ``task`` in ``queue``, failed for good, with a traceback."""
    jobs = [
        Job(task=task, payload=encode_payload({"n": n, "password": "hunter2"}), queue=queue)
        for n in range(count)
    ]
    ids = await driver.enqueue(jobs)
    claimed = await driver.claim([queue], limit=count, worker_id="w-test", lease_seconds=60)
    assert len(claimed) == count
    outcomes = [
        Failed(j.id, "w-test", j.attempts, queue, error=ERROR.format(n=ids.index(j.id)))
        for j in claimed
    ]
    assert all(await driver.settle(outcomes))
    return ids
