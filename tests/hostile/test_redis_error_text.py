"""Hostile error text on Redis: whatever a task raises, its job ends failed with a
readable, bounded error, and the worker goes on (issue 13, "fuzz error strings").

The fuzz runs through a real failure: tasks raising odd messages, run by a worker
process (``python -m asynctasq worker``, importing this module for its tasks). The
storing rules are ``asynctasq.drivers.sanitize``, unit-tested at the end.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from asynctasq import AsyncTask
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.sanitize import MAX_ERROR_CHARS, sanitize_text
from asynctasq.jobs import JobState
from tests.backends import Backend
from tests.conftest import only_backends
from tests.workers import spawn_worker, stop

MODULE = "tests.hostile.test_redis_error_text"
MEGABYTE = 1_000_000

#: kind -> (the message raised, what the stored error must contain)
MESSAGES: dict[str, tuple[object, list[str]]] = {
    "nul": ("NUL \x00 inside", ["NUL \x00 inside"]),  # Redis stores any byte
    "surrogate": ("lone \ud800 surrogate", ["lone \ufffd surrogate"]),
    "pair": ("split \ud83d\ude00 pair", ["split \U0001f600 pair"]),
    "escaped": (b"\xff\xfe bytes".decode("utf-8", "surrogateescape"), ["\ufffd\ufffd bytes"]),
    "utf8-bytes": (b"\xff\xfe\x00 invalid", ["\\xff\\xfe\\x00 invalid"]),
    "megabyte": ("m" * MEGABYTE + " THE END", ["ValueError: mmm", "characters cut", "THE END"]),
}


class Raise(AsyncTask[None], name="redisfuzz.Raise"):
    config = {"max_attempts": 1}

    kind: str

    async def execute(self) -> None:
        raise ValueError(MESSAGES[self.kind][0])


class Fine(AsyncTask[str], name="redisfuzz.Fine"):
    async def execute(self) -> str:
        return "fine"


@only_backends("redis", "redis-cluster")
async def test_odd_error_strings_end_failed_readable_and_the_worker_goes_on(
    backend: Backend, tmp_path: Path
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    dispatcher = Dispatcher(driver, backend.config(keep_completed_tasks=True))
    failing = {kind: await dispatcher.dispatch(Raise(kind=kind)) for kind in MESSAGES}
    env = {**backend.env(), "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true"}
    worker = spawn_worker(env, imports=MODULE, log_path=tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 30
        while (await driver.stats("default")).failed < len(MESSAGES):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the failing jobs did not all end failed"
            await asyncio.sleep(0.1)
        after = await dispatcher.dispatch(Fine())  # the worker goes on
        while (done := await driver.get(after)) is None or done.state is not JobState.COMPLETED:
            assert time.monotonic() < deadline, f"the job after them did not complete: {done}"
            await asyncio.sleep(0.1)
        assert worker.poll() is None
    finally:
        assert stop(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]

    for kind, job_id in failing.items():
        job = await driver.get(job_id)
        assert job is not None and job.state is JobState.FAILED, (kind, job)
        error = job.error or ""
        error.encode("utf-8")  # readable: valid Unicode, no lone surrogate
        assert len(error) <= MAX_ERROR_CHARS, (kind, len(error))
        for part in MESSAGES[kind][1]:
            assert part in error, (kind, part, error[:300])


# -- sanitize_text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "allow_nul", "expected"),
    [
        ("plain", False, "plain"),
        ("a\x00b", True, "a\x00b"),
        ("a\x00b", False, "a\ufffdb"),
        ("lone \udcff", True, "lone \ufffd"),
        ("\ud83d\ude00", True, "\U0001f600"),  # a pair that belongs together is kept
        ("\ude00\ud83d", True, "\ufffd\ufffd"),  # the wrong way round is not a pair
    ],
)
def test_sanitize_text_makes_text_storable(text: str, allow_nul: bool, expected: str) -> None:
    assert sanitize_text(text, max_chars=100, allow_nul=allow_nul) == expected


@pytest.mark.parametrize("max_chars", [1, 10, 40, 41, 100, 1000])
def test_sanitize_text_keeps_head_and_tail_within_the_bound(max_chars: int) -> None:
    text = "HEAD" + "x" * 10_000 + "TAIL"
    got = sanitize_text(text, max_chars=max_chars, allow_nul=True)
    assert len(got) <= max_chars
    if max_chars >= 100:
        assert got.startswith("HEAD") and got.endswith("TAIL")
        assert "characters cut" in got
    assert sanitize_text("short", max_chars=max_chars + 5, allow_nul=True) == "short"
