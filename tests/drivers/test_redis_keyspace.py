"""The Redis keyspace and the Lua scripts agree with keys.py and codec.py."""

from __future__ import annotations

import random
import re
import time

import pytest
import redis.asyncio as redis
from redis.crc import key_slot

from asynctasq.drivers.keys import META_FIELDS, QUEUE_KEYS, WAKE_CAP, RedisKeys, validate_prefix
from asynctasq.drivers.redis.codec import run_key
from asynctasq.drivers.redis.scripts import LUA_DIR, SCRIPTS, STANDALONE
from asynctasq.jobs import JobState, WorkerInfo, new_job_id
from asynctasq.testing.conformance.contract import make_job, reserve
from tests.backends import Backend
from tests.backends_redis import local_redis_url
from tests.conftest import only_backends

PRELUDE = (LUA_DIR / "_prelude.lua").read_text()


def _lua_constant(name: str) -> int:
    match = re.search(rf"\b{name}\s*=\s*(\d+)", PRELUDE)
    assert match, name
    return int(match[1])


def test_the_prelude_names_the_queue_keys_in_the_order_of_keys_py() -> None:
    assert _lua_constant("NKEYS") == len(QUEUE_KEYS)
    assert _lua_constant("WAKE_CAP") == WAKE_CAP
    declared = re.findall(r"^local ([A-Z_, ]+) = ([\d, ]+)$", PRELUDE, re.MULTILINE)
    positions = {}
    for names, numbers in declared:
        for name, number in zip(names.split(", "), numbers.split(", "), strict=True):
            positions[name] = int(number)
    for index, kind in enumerate(QUEUE_KEYS, start=1):
        assert positions[kind.upper()] == index, kind
    lua_names = {"worker_id": "WORKER"}  # the one field Lua names differently
    for index, field in enumerate(META_FIELDS, start=1):
        assert positions[lua_names.get(field, field.upper())] == index, field


def test_every_script_documents_its_keys_and_arguments() -> None:
    for script in SCRIPTS.load_all().values():
        body = (LUA_DIR / f"{script.name}.lua").read_text()
        assert script.source.decode().endswith(body), script.name  # after its prelude part
        if body.startswith(STANDALONE):
            body = body.split("\n", 1)[1]
        header = body.lstrip().split("\nlocal ", 1)[0]
        assert header.lstrip().startswith(f"-- {script.name}:"), script.name
        assert "KEYS" in header, script.name


def test_a_standalone_script_runs_without_the_prelude_and_agrees_with_it() -> None:
    standalone = [
        s for s in SCRIPTS.load_all().values() if s.source.startswith(STANDALONE.encode())
    ]
    assert [s.name for s in standalone] == ["enqueue_due"]
    for script in standalone:
        source = script.source.decode()
        assert PRELUDE not in source
        assert f"WAKE_CAP = {WAKE_CAP}" in source  # its own copy of the prelude's constant


def test_the_lean_enqueue_keys_are_the_queue_blocks_jobs_ready_and_wake() -> None:
    keys = RedisKeys("app:jobs")
    block = dict(zip(QUEUE_KEYS, keys.queue("mail"), strict=True))
    assert keys.due("mail") == (block["jobs"], block["ready"], block["wake"])


def test_all_keys_of_a_queue_share_one_cluster_slot() -> None:
    keys = RedisKeys("app:jobs")
    for queue in ("default", "emails", "a.b:c@d/e-f_g"):
        slots = {key_slot(k.encode()) for k in keys.queue(queue)}
        assert len(slots) == 1
    shared = {key_slot(k.encode()) for k in (keys.registry, keys.workers, keys.worker_info)}
    assert len(shared) == 1


async def test_the_cleanup_pattern_matches_only_its_prefix() -> None:
    token = new_job_id()[-8:]
    mine, lookalike = f"t{token}*[1]", f"t{token}xx1"  # the raw glob would match both
    client = redis.Redis.from_url(local_redis_url())
    try:
        await client.set(f"{mine}:k", 1)
        await client.set(f"{lookalike}:k", 1)
        found = [k async for k in client.scan_iter(match=RedisKeys(mine).pattern, count=1000)]
        assert found == [f"{mine}:k".encode()]
    finally:
        await client.delete(f"{mine}:k", f"{lookalike}:k")
        await client.aclose()


@pytest.mark.parametrize("prefix", ["", "a{b}", "has space", "x}"])
def test_prefixes_that_would_break_keys_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="ASYNCTASQ_REDIS_PREFIX"):
        validate_prefix(prefix)


async def test_python_and_lua_build_the_same_run_key() -> None:
    """enqueue sends members built by codec.run_key(); every later move rebuilds
    them in Lua from the stored run_at. They must be byte for byte equal."""
    client = redis.Redis.from_url(local_redis_url())
    script = (
        PRELUDE
        + "\nlocal out = {}\nfor i = 1, #ARGV do\n"
        + ("  out[i] = run_entry(cmsgpack.unpack(ARGV[i]), 'id')\nend\nreturn out")
    )
    rng = random.Random(7)
    now = time.time()
    values = [0.0, -5.0, 1e-7, 0.1, 0.3, 1 / 3, now, now + 0.000_000_1, 2**53 / 1e6, 1e17]
    values += [now + rng.uniform(-1e6, 1e6) for _ in range(300)]
    values += [rng.uniform(0, 4e9) for _ in range(300)]
    import msgpack

    try:
        args = [msgpack.packb(v) for v in values]
        got = await client.eval(script, 0, *args)  # type: ignore[misc]
    finally:
        await client.aclose()
    assert [g.decode() for g in got] == [run_key(v) + "id" for v in values]


@only_backends("redis")
async def test_every_key_in_redis_is_one_keys_py_documents(backend: Backend) -> None:
    """A whole life cycle, then a scan: nothing outside the documented keyspace."""
    driver = await backend.new_driver(keep_completed=True)
    await driver.enqueue([make_job() for _ in range(4)] + [make_job(run_at=time.time() + 60)])
    await driver.enqueue([make_job(unique_key="u")])
    a, b, c, _ = await reserve(driver, limit=4)
    await driver.complete(a, b"result")
    await driver.fail(b, "boom")
    await driver.retry(c, time.time() + 60, "later")
    (pending,) = await driver.list_jobs("default", JobState.PENDING, limit=1)
    await driver.cancel(pending.id)
    await driver.pause("paused-queue")
    await driver.heartbeat(WorkerInfo("w", "h", 1, ("default",), 1), ttl=30)
    await reserve(driver, wait=0.05)  # leaves a wake-up wait behind
    await driver.enqueue([make_job()])  # a wake token
    prefix = backend.prefix  # type: ignore[attr-defined]
    keys = RedisKeys(prefix)
    documented = {keys.registry, keys.workers, keys.worker_info}
    for queue in ("default", "paused-queue"):
        documented.update(keys.queue(queue))
    client = redis.Redis.from_url(local_redis_url())
    try:
        found = {k.decode() async for k in client.scan_iter(match=f"{prefix}:*", count=500)}
    finally:
        await client.aclose()
    assert found <= documented, found - documented
    assert {keys.queue("default")[QUEUE_KEYS.index(k)] for k in ("jobs", "ready")} <= found


def test_job_ids_are_plain_enough_for_run_keys() -> None:
    assert len(run_key(time.time())) == 16
    assert run_key(time.time()) + new_job_id() > run_key(0) + new_job_id()
