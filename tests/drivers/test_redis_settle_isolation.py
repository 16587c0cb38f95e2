"""Redis: a batch of outcomes where one cannot be applied still applies the others.

settle.lua handles a corrupt record itself (test_redis_corrupt.py). Beyond that, a
call that fails as a whole is split and sent again in smaller pieces (redis/
outcomes.py). The faults here are injected into a copy of settle.lua run by the real
server: a Lua error for one chosen outcome, as any unforeseen bug or limit would raise.
"""

from __future__ import annotations

import hashlib
import math
import time

import pytest
from redis.exceptions import OutOfMemoryError

from asynctasq.drivers.base import Driver
from asynctasq.drivers.redis import scripts
from asynctasq.drivers.redis.scripts import LUA_DIR, Script
from asynctasq.drivers.sanitize import MAX_ERROR_CHARS
from asynctasq.jobs import Completed, Failed, Job, JobState, Outcome, Retried
from asynctasq.testing.conformance.contract import W1, make_job, reserve
from tests.backends import Backend
from tests.conftest import only_backends

REDIS = ("redis", "redis-cluster")


def _inject(monkeypatch: pytest.MonkeyPatch, driver: Driver, lua: str) -> list[int]:
    """settle.lua with ``lua`` run first (it sees ``batch``); returns a list that
    counts the driver's calls of it, to show the splitting ends. The driver calls it
    by EVALSHA from then on (its library of functions, scripts.py, has the file's)."""
    driver._scripts.functions = False  # type: ignore[attr-defined]
    prelude = (LUA_DIR / "_prelude.lua").read_text()
    body = (LUA_DIR / "settle.lua").read_text()
    head = "local batch = cmsgpack.unpack(ARGV[6])\n"
    source = f"{prelude}\n{head}{lua}\n{body}".encode()
    patched = Script("settle", source, hashlib.sha1(source).hexdigest())
    monkeypatch.setitem(scripts.SCRIPTS, "settle", patched)
    calls: list[int] = []
    run_many = scripts.ScriptRunner.run_many

    async def counted(self: scripts.ScriptRunner, batch: object, **kw: object) -> object:
        calls.append(len(batch))  # type: ignore[arg-type]
        return await run_many(self, batch, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(scripts.ScriptRunner, "run_many", counted)
    return calls


def _completed(jobs: list[Job]) -> list[Outcome]:
    return [Completed(j.id, W1, j.attempts, queue=j.queue) for j in jobs]


async def _reserved(driver: Driver, n: int) -> list[Job]:
    await driver.enqueue([make_job(payload=str(i).encode()) for i in range(n)])
    return await reserve(driver)


@only_backends(*REDIS)
async def test_an_outcome_the_script_fails_on_is_isolated_and_the_rest_applied(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = await backend.new_driver(keep_completed=True)
    jobs = await _reserved(driver, 9)
    poison = jobs[6].id
    calls = _inject(
        monkeypatch,
        driver,
        f'for _, o in ipairs(batch) do if o[2] == "{poison}" then error("injected") end end',
    )
    accepted = await driver.settle(_completed(jobs))
    assert accepted == [j.id != poison for j in jobs]
    assert (await driver.stats("default")).completed == 8
    got = await driver.get(poison)
    assert got is not None and got.state is JobState.ACTIVE  # its lease will lapse
    # halving 9 down to the one: a few rounds, never a loop
    assert len(calls) <= 2 * math.ceil(math.log2(9)) + 2, calls


@only_backends(*REDIS)
async def test_an_error_text_the_script_fails_on_is_stored_as_a_note(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = await backend.new_driver()
    jobs = await _reserved(driver, 4)
    _inject(
        monkeypatch,
        driver,
        'for _, o in ipairs(batch) do if o[6] and string.find(o[6], "POISON", 1, true) '
        'then error("injected") end end',
    )
    outcomes = [Failed(j.id, W1, j.attempts, queue=j.queue, error=f"boom {i}") for i, j in
                enumerate(jobs)]  # fmt: skip
    outcomes[1] = Failed(jobs[1].id, W1, jobs[1].attempts, queue="default", error="POISON")
    assert await driver.settle(outcomes) == [True] * 4
    got = await driver.get(jobs[1].id)
    assert got is not None and got.state is JobState.FAILED
    assert got.error is not None and "could not be stored" in got.error
    other = await driver.get(jobs[2].id)
    assert other is not None and other.error == "boom 2"


@only_backends("redis")
async def test_a_server_that_refuses_writes_is_not_taken_for_a_bad_outcome(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory: the error reaches the worker, which keeps the outcomes and
    retries later, instead of the batch being split and refused."""
    driver = await backend.new_driver()
    jobs = await _reserved(driver, 3)
    calls = _inject(monkeypatch, driver, 'do return redis.error_reply("OOM injected") end')
    with pytest.raises(OutOfMemoryError):
        await driver.settle(_completed(jobs))
    assert calls == [1]


# -- outcomes that broke a whole batch on 0.1.0 ----------------------------------------------


@only_backends(*REDIS)
async def test_a_retry_time_that_is_not_a_number_does_not_abort_the_batch(
    backend: Backend,
) -> None:
    """ZADD refuses a NaN score: settle.lua raised and no outcome of the batch was applied."""
    driver = await backend.new_driver()
    jobs = await _reserved(driver, 3)
    odd = Retried(jobs[0].id, W1, jobs[0].attempts, queue="default", run_at=1.0, error="e")
    object.__setattr__(odd, "run_at", math.nan)  # (constructors may refuse NaN)
    outcomes = [odd, *_completed(jobs[1:])]
    assert await driver.settle(outcomes) == [True, True, True]
    got = await driver.get(jobs[0].id)
    assert got is not None and got.state is JobState.PENDING
    assert got.run_at <= time.time()


@only_backends(*REDIS)
async def test_odd_error_text_is_stored_readable_and_bounded(backend: Backend) -> None:
    driver = await backend.new_driver()
    jobs = await _reserved(driver, 4)
    texts = ["nul\x00byte", "lone \ud800 surrogate", "x" * 1_000_000 + "THE END", "ok"]
    outcomes = [
        Failed(j.id, W1, j.attempts, queue="default", error=t)
        for j, t in zip(jobs, texts, strict=True)
    ]
    assert await driver.settle(outcomes) == [True] * 4
    stored = {j.id: (await driver.get(j.id)) for j in jobs}
    errors = [stored[j.id].error for j in jobs]  # type: ignore[union-attr]
    assert errors[0] == "nul\x00byte"  # Redis stores any byte
    assert errors[1] == "lone \ufffd surrogate"
    assert errors[2] is not None and len(errors[2]) <= MAX_ERROR_CHARS
    assert errors[2].startswith("xxx") and errors[2].endswith("THE END")
    assert "characters cut" in errors[2]
    assert errors[3] == "ok"
