"""Tortoise models through a real worker, on PostgreSQL (asyncpg): fresh rows, one
query per model class, ModelNotFound, forged payloads, pool processes."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import msgpack
import pytest
from tortoise import Tortoise

from asynctasq.core.worker.process_pool import ProcessPool
from asynctasq.jobs import Job, JobState
from asynctasq.serialization import dumps, loads
from asynctasq.serialization.orm import TortoiseRef, UnknownModelError, UnsavedModelError
from asynctasq.serialization.payload import encode_payload
from tests.integration.orm_support import tortoise_tasks as tasks
from tests.integration.orm_support.broker import Broker
from tests.integration.orm_support.databases import PG_HOST, postgres_database
from tests.integration.orm_support.tortoise_models import Arena, Player

MODELS = "tests.integration.orm_support.tortoise_models"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database("asynctasq_orm_tt") as name:
        yield f"asyncpg://postgres@{PG_HOST}/{name}"


@asynccontextmanager
async def tortoise(url: str) -> AsyncIterator[list[Player]]:
    """Tortoise set up in the test's own task (it keeps its state in a context that
    the worker's jobs inherit), with four players."""
    await Tortoise.init(db_url=url, modules={"models": [MODELS]})
    try:
        await Tortoise.generate_schemas(safe=True)
        await Player.all().delete()
        await Arena.all().delete()
        tasks.SEEN.clear()
        tasks.FAILED.clear()
        yield [await Player.create(id=i, name=f"p{i}", score=i) for i in range(1, 5)]
    finally:
        await Tortoise.close_connections()


def _selects(caplog: pytest.LogCaptureFixture) -> list[str]:
    return sorted(
        r.getMessage().split("FROM", 1)[1].split()[0].strip('"')
        for r in caplog.records
        if r.name == "tortoise.db_client" and r.getMessage().startswith("SELECT")
    )


async def test_the_task_sees_the_row_as_it_is_when_the_job_runs(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with tortoise(database) as players:
        arena = await Arena.create(id=uuid.UUID(int=3), city="Lyon")
        broker = Broker()
        await broker.dispatch(
            tasks.GreetPlayer(player=players[0]),
            tasks.Tournament(players=players, arenas={"final": arena}),
        )
        await Player.filter(id=1).update(name="Ada", score=100)
        await Arena.filter(id=arena.id).update(city="Nantes")
        with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
            await broker.drain()
    greeting, tournament = sorted(tasks.SEEN, key=lambda seen: isinstance(seen, dict))
    assert greeting == ("Ada", 100)
    assert tournament == {
        "players": [("Ada", 100), ("p2", 2), ("p3", 3), ("p4", 4)],
        "arenas": {"final": "Nantes"},
    }
    assert _selects(caplog) == ["arena", "player", "player"]  # one per class per job


async def test_a_deleted_row_dead_letters_the_job_with_model_not_found(database: str) -> None:
    async with tortoise(database) as players:
        broker = Broker()
        plain, retried = await broker.dispatch(
            tasks.GreetPlayer(player=players[0]), tasks.RetryMissing(player=players[1])
        )
        await Player.filter(id__in=[1, 2]).delete()
        await broker.drain()
    job = await broker.job(plain)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.error is not None
    assert "ModelNotFound: models.Player with primary key 1 no longer exists" in job.error
    assert [type(e).__name__ for e in tasks.FAILED] == ["ModelNotFound"]
    again = await broker.job(retried)
    assert (again.state, again.attempts) == (JobState.FAILED, 2)
    assert tasks.SEEN == []


async def test_references_are_small_and_unsaved_instances_refused(database: str) -> None:
    async with tortoise(database) as players:
        assert loads(dumps(players[2])) == TortoiseRef("models.Player", 3)
        with pytest.raises(UnsavedModelError, match=r"unsaved models\.Player.*Save it"):
            dumps(Player(id=99, name="draft"))  # a key, but no row


@pytest.mark.parametrize("name", ["os.system", "models.Nope", "forged_tt_module_zz.Thing"])
async def test_a_forged_reference_is_refused_and_nothing_imported(database: str, name: str) -> None:
    async with tortoise(database):
        broker = Broker()
        await broker.driver.connect()
        forged = msgpack.packb(
            {"args": {"player": msgpack.ExtType(22, msgpack.packb([name, 1]))}},
            use_bin_type=True,
        )
        [job_id] = await broker.driver.enqueue(
            [Job(task=tasks.GreetPlayer.task_name, payload=forged)]
        )
        await broker.drain()
    job = await broker.job(job_id)
    assert job.state is JobState.FAILED
    assert job.error is not None and "UnknownModelError: refused a reference" in job.error
    assert "forged_tt_module_zz" not in sys.modules


@pytest.mark.slow
async def test_a_pool_process_refuses_tortoise_references_clearly(database: str) -> None:
    """Documented limit: pool processes have no Tortoise set up, so a process task
    taking a Tortoise model fails permanently, saying why (pass the id instead)."""
    async with tortoise(database) as players:
        payload = encode_payload({"player": players[0]})
    pool = ProcessPool(1, modules=[tasks.__name__], start_method="spawn")
    try:
        with pytest.raises(UnknownModelError, match="Tortoise is not initialised here"):
            await pool.run(tasks.PlayerReport.task_name, payload, 60)
    finally:
        await pool.close()
