"""The lean connection of the Redis driver (asynctasq/drivers/redis/lean.py): a single
dispatch goes by it, and it keeps every guarantee of the pooled client: credentials
and database, scripts the server forgot, a restart, a server that stops answering,
a caller that is cancelled, error replies. Servers of the tests' own, never the
shared one, where the test stops or locks them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from asynctasq.drivers.redis import RedisDriver
from asynctasq.drivers.redis.lean import LeanConnection, lean_connection_for
from asynctasq.testing.conformance.contract import make_job, reserve
from tests.backends_redis import RedisServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    own = RedisServer(tmp_path / "redis", "--requirepass", "s3cret")
    own.start()
    try:
        yield own
    finally:
        own.stop(kill=True)


def url(server: RedisServer, db: int = 3) -> str:
    return f"redis://:s3cret@127.0.0.1:{server.port}/{db}"


@pytest.fixture
async def driver(server: RedisServer) -> AsyncIterator[RedisDriver]:
    own = RedisDriver(url(server), prefix="lean")
    await own.connect()
    try:
        yield own
    finally:
        await own.disconnect()


async def test_a_single_dispatch_goes_by_the_lean_connection_to_the_right_database(
    driver: RedisDriver, server: RedisServer
) -> None:
    lean = driver._scripts.lean
    assert lean is not None
    await driver.enqueue([job := make_job()])
    assert lean._protocol is not None, "the single enqueue did not use the lean connection"
    # it authenticated and selected database 3, where the pooled client writes too
    names = server.cli("-a", "s3cret", "--no-auth-warning", "-n", "3", "keys", "lean*")
    assert "lean" in names
    assert server.cli("-a", "s3cret", "--no-auth-warning", "-n", "0", "dbsize").strip() == "0"
    assert [j.id for j in await reserve(driver)] == [job.id]
    # and its client name is the pooled client's
    clients = server.cli("-a", "s3cret", "--no-auth-warning", "client", "list")
    assert clients.count("name=asynctasq") >= 2


async def test_scripts_the_server_forgot_run_again(
    driver: RedisDriver, server: RedisServer
) -> None:
    await driver.enqueue([make_job()])
    server.cli("-a", "s3cret", "--no-auth-warning", "script", "flush")
    await driver.enqueue([make_job()])
    assert len(await reserve(driver, limit=5)) == 2


async def test_a_restarted_server_costs_no_dispatch(
    driver: RedisDriver, server: RedisServer
) -> None:
    await driver.enqueue([make_job()])
    server.stop(kill=True)
    server.start()  # empty (no persistence): only what comes after counts
    ids = [(await driver.enqueue([make_job()]))[0] for _ in range(3)]
    assert sorted(j.id for j in await reserve(driver, limit=5)) == sorted(ids)


async def test_an_error_reply_is_redis_pys_exception_and_the_connection_stays_usable(
    driver: RedisDriver,
) -> None:
    lean = driver._scripts.lean
    assert lean is not None
    with pytest.raises(ResponseError, match="unknown command"):
        await lean.call("NOSUCHCOMMAND")
    assert await lean.call("PING") == b"PONG"


async def test_a_cancelled_caller_does_not_shift_the_replies(driver: RedisDriver) -> None:
    lean = driver._scripts.lean
    assert lean is not None
    await lean.call("SET", "lean:a", "1")
    slow = asyncio.create_task(lean.call("GET", "lean:a"))
    slow.cancel()  # its reply arrives later and is dropped
    with contextlib.suppress(asyncio.CancelledError):
        await slow
    await lean.call("SET", "lean:b", "2")
    assert await lean.call("GET", "lean:b") == b"2"
    replies = await asyncio.gather(*(lean.call("INCR", "lean:n") for _ in range(50)))
    assert replies == list(range(1, 51))  # concurrent calls pipeline, replies in order


async def test_a_server_that_stops_answering_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    mute = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = mute.sockets[0].getsockname()[1]
    lean = LeanConnection(host="127.0.0.1", port=port, timeout=0.4)
    try:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(lean.call("PING"), 5)
    finally:
        await lean.close()
        for writer in accepted:
            writer.close()
        mute.close()
        await mute.wait_closed()


async def test_tls_and_cluster_clients_keep_the_pooled_path() -> None:
    tls = redis_asyncio.Redis.from_url("rediss://127.0.0.1:1/0")
    try:
        assert lean_connection_for(tls) is None
    finally:
        await tls.aclose()


def test_it_runs_on_uvloop_the_worker_s_loop(server: RedisServer) -> None:
    import uvloop

    async def round_trip() -> None:
        own = RedisDriver(url(server), prefix="lean-uvloop")
        await own.connect()
        try:
            await own.enqueue([job := make_job()])
            assert own._scripts.lean is not None and own._scripts.lean._protocol is not None
            assert [j.id for j in await reserve(own)] == [job.id]
        finally:
            await own.disconnect()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(round_trip())
    finally:
        loop.close()


async def test_error_replies_are_the_exceptions_redis_py_raises(driver: RedisDriver) -> None:
    from redis.exceptions import NoScriptError, OutOfMemoryError

    lean = driver._scripts.lean
    assert lean is not None
    script = "return redis.error_reply('OOM injected')"
    with pytest.raises(OutOfMemoryError):  # a full server, not a bad call (isolation.py)
        await lean.call("EVAL", script, 0)
    with pytest.raises(NoScriptError):
        await lean.call("EVALSHA", "0" * 40, 0)


async def test_a_blocked_claim_whose_connection_drops_leaves_no_unretrieved_reply(
    driver: RedisDriver, server: RedisServer
) -> None:
    """An idle worker's BLPOP-and-claim goes out as three commands on the lean
    connection; when the connection drops under the BLPOP, the claim's reply (an
    error now) is still accounted for: asyncio logs no "Future exception was never
    retrieved" for it (a worker's log during a Redis restart or a shutdown)."""
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        waiting = asyncio.create_task(
            driver.reserve(["idle"], limit=1, worker_id="w", lease_seconds=30, wait=10)
        )
        blocking = driver._blocking
        assert blocking is not None and blocking.lean is not None
        for _ in range(500):  # until its BLPOP is blocked on the server
            op = blocking._op
            if op is not None and op.client_id is not None:
                break
            await asyncio.sleep(0.01)
        assert op is not None and op.client_id is not None
        server.cli("-a", "s3cret", "--no-auth-warning", "client", "kill", "id", str(op.client_id))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(waiting, 10)
        del op, waiting
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert not [c for c in unhandled if "never retrieved" in str(c.get("message"))], unhandled
