"""The Redis driver's scripts as one library of Redis Functions (redis/library.py): the
library loads on a real server with every script in it; calls go by FCALL once a
single call has found the server takes it; a server that lost it gets it again; a
server that refuses functions is called by EVALSHA; and each call starts with the
prelude's per-call state fresh, as a script's run does. Servers of the tests' own:
the tests flush functions and change users."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.exceptions import OutOfMemoryError

from asynctasq.drivers.redis import RedisDriver
from asynctasq.drivers.redis.library import INSPECTION, PER_CALL_STATE, library
from asynctasq.drivers.redis.scripts import LUA_DIR, STANDALONE
from asynctasq.jobs import JobState
from asynctasq.testing.conformance.contract import make_job, reserve
from tests.backends_redis import RedisServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    own = RedisServer(tmp_path / "redis")
    own.start()
    try:
        yield own
    finally:
        own.stop(kill=True)


@pytest.fixture
async def driver(server: RedisServer) -> AsyncIterator[RedisDriver]:
    own = RedisDriver(server.url, prefix="functions")
    await own.connect()
    try:
        yield own
    finally:
        await own.disconnect()


def _calls(server: RedisServer) -> dict[str, int]:
    """How many FCALL and EVALSHA the server ran since its stats were reset."""
    counts = {"fcall": 0, "evalsha": 0}
    for line in server.cli("info", "commandstats").splitlines():
        for command in counts:
            if line.startswith(f"cmdstat_{command}:"):
                counts[command] = int(line.split("calls=")[1].split(",")[0])
    return counts


def test_every_script_is_a_function_of_the_library(server: RedisServer) -> None:
    lib = library()
    scripts = [p for p in LUA_DIR.glob("*.lua") if not p.name.startswith("_")]
    standalone = sorted(p.stem for p in scripts if p.read_text().startswith(STANDALONE))
    assert standalone == ["enqueue_due"]  # (its EVALSHA is cheaper: no prelude to save)
    assert INSPECTION.issubset(p.stem for p in scripts)
    outside = set(standalone) | INSPECTION
    assert sorted(lib.functions) == sorted(p.stem for p in scripts if p.stem not in outside)
    assert server.cli("function", "load", lib.source).strip() == lib.name
    listed = server.cli("function", "list", "libraryname", lib.name)
    for function in lib.functions.values():
        assert function in listed


def test_the_library_makes_every_empty_table_of_the_prelude_anew_per_call() -> None:
    """A top-level ``local x = {}`` of the prelude is one call's state (a cache): a
    function call must start with it empty, as a script's run does. One added to the
    prelude and not to PER_CALL_STATE would carry a call's state into the next."""
    empty_tables = set()
    for line in (LUA_DIR / "_prelude.lua").read_text().splitlines():
        found = re.match(r"local ([\w, ]+?) = (\{\}(?:, \{\})*)\s*(?:--.*)?$", line)
        if found:
            empty_tables |= {name.strip() for name in found.group(1).split(",")}
    assert empty_tables == set(PER_CALL_STATE)


async def test_calls_go_by_fcall_once_a_single_call_found_the_library(
    driver: RedisDriver, server: RedisServer
) -> None:
    await driver.enqueue([make_job()])
    await reserve(driver)  # a single call: the library is loaded, FCALL from then on
    assert driver._scripts.functions is True
    server.cli("config", "resetstat")
    await driver.enqueue([job := make_job(unique_key="one")])  # enqueue.lua, not the lean one
    assert [j.id for j in await reserve(driver)] == [job.id]
    counts = _calls(server)
    assert counts["fcall"] >= 2 and counts["evalsha"] == 0, counts
    await driver.enqueue([make_job()])  # all due, nothing unique: enqueue_due.lua
    assert _calls(server)["evalsha"] == 1  # standalone: no prelude, EVALSHA is cheaper


async def test_a_server_that_lost_the_library_gets_it_again(
    driver: RedisDriver, server: RedisServer
) -> None:
    await driver.enqueue([make_job()])
    await reserve(driver)
    assert driver._scripts.functions is True
    server.cli("function", "flush")  # as a restart without persistence would
    # two queues: two calls in one pipeline, each answered "Function not found"
    await driver.enqueue([make_job(), make_job(queue="other")])
    server.cli("function", "flush")
    await driver.enqueue([job := make_job()])  # a single call
    server.cli("function", "flush")
    claimed = await driver.reserve(["default"], limit=10, worker_id="w", lease_seconds=30, wait=1)
    assert len(claimed) == 2 and job.id in {j.id for j in claimed}
    server.cli("function", "flush")
    assert len(await reserve(driver, ["other"])) == 1
    assert library().name in server.cli("function", "list")


async def test_a_server_that_refuses_functions_is_called_by_evalsha(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # a user that may run scripts but not functions (as Redis 6 has none)
    server.cli("acl", "setuser", "scripts", "on", ">pw", "~*", "&*", "+@all", "-fcall", "-function")
    own = RedisDriver(f"redis://scripts:pw@127.0.0.1:{server.port}/0", prefix="no-functions")
    await own.connect()
    try:
        with caplog.at_level(logging.INFO, logger="asynctasq.redis"):
            await own.enqueue([job := make_job()])
            assert [j.id for j in await reserve(own)] == [job.id]
            await own.enqueue([other := make_job()])
            assert [j.id for j in await reserve(own)] == [other.id]
        assert own._scripts.functions is False
        assert "EVALSHA" in caplog.text
    finally:
        await own.disconnect()


async def test_each_call_starts_with_the_prelude_s_per_call_state_fresh(
    driver: RedisDriver,
) -> None:
    """The prelude caches a call's blocks of KEYS by position (``declared``): a
    function call that kept the last call's cache would read another queue's keys."""
    await driver.enqueue([make_job()])
    await reserve(driver)
    assert driver._scripts.functions is True
    await driver.enqueue([first := make_job(queue="first")])
    await driver.enqueue([second := make_job(queue="second")])
    got_second = await driver.reserve(["second"], limit=5, worker_id="w", lease_seconds=30)
    got_first = await driver.reserve(["first"], limit=5, worker_id="w", lease_seconds=30)
    assert [j.id for j in got_second] == [second.id]
    assert [j.id for j in got_first] == [first.id]


async def test_an_idle_claim_behind_its_blpop_finds_the_library_gone(
    driver: RedisDriver, server: RedisServer
) -> None:
    """The claim sent behind an idle worker's BLPOP is answered "Function not found":
    the worker's own claim after it loads the library and takes the job."""
    await driver.enqueue([make_job()])
    await reserve(driver)
    assert driver._scripts.functions is True
    waiting = asyncio.create_task(
        driver.reserve(["idle"], limit=1, worker_id="w", lease_seconds=30, wait=5)
    )
    blocking = driver._blocking
    assert blocking is not None
    for _ in range(500):  # until its BLPOP (and the FCALL behind it) went out
        if blocking._op is not None and blocking._op.client_id is not None:
            break
        await asyncio.sleep(0.01)
    server.cli("function", "flush")
    producer = RedisDriver(server.url, prefix="functions")
    await producer.connect()
    try:
        producer._scripts.functions = False  # (its own calls must not load it back)
        await producer.enqueue([job := make_job(queue="idle")])
    finally:
        await producer.disconnect()
    claimed = await asyncio.wait_for(waiting, 10)
    assert [j.id for j in claimed] == [job.id]
    assert library().name in server.cli("function", "list")


async def test_a_server_out_of_memory_still_answers_the_inspection_scripts(
    driver: RedisDriver, server: RedisServer
) -> None:
    """Redis refuses a function without flags before it starts when it is over its
    maxmemory; the scripts that read for an operator stay on EVALSHA and answer. The
    claim (a function) fails with OutOfMemoryError, which the worker logs and retries."""
    await driver.enqueue([job := make_job(unique_key="u")])
    await reserve(driver)
    assert driver._scripts.functions is True
    await driver.enqueue([waiting := make_job(unique_key="w")])
    server.cli("config", "set", "maxmemory-policy", "noeviction")
    server.cli("config", "set", "maxmemory", "1")
    try:
        assert (await driver.stats("default")).depth == 1
        got = await driver.get(job.id)
        assert got is not None and got.state is JobState.ACTIVE
        assert [j.id for j in await driver.list_jobs("default", JobState.PENDING)] == [waiting.id]
        with pytest.raises(OutOfMemoryError):
            await driver.reserve(["default"], limit=1, worker_id="w", lease_seconds=30)
    finally:
        server.cli("config", "set", "maxmemory", "0")
    assert [j.id for j in await reserve(driver)] == [waiting.id]
