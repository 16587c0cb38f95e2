"""Django models through a real worker, on PostgreSQL: fresh rows, one query per
model class (composite and UUID keys too), ModelNotFound, forged payloads."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from asgiref.sync import sync_to_async

from asynctasq.jobs import Job, JobState
from asynctasq.serialization import dumps, loads
from asynctasq.serialization.orm import DjangoRef, UnsavedModelError
from tests.integration.orm_support import django_tasks as tasks
from tests.integration.orm_support.broker import Broker
from tests.integration.orm_support.databases import PG_HOST, postgres_database

APP = "tests.integration.orm_support.django_app"


@pytest.fixture(scope="module")
def models() -> Iterator[Any]:
    """Django set up once for this process, on a database of this module."""
    import django
    from django.conf import settings
    from django.db import connection

    with postgres_database("asynctasq_orm_dj") as name:
        host, port = PG_HOST.split(":")
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "HOST": host,
            "PORT": port,
        }
        if settings.configured:
            settings.DATABASES["default"] = database
        else:
            settings.configure(
                DATABASES={"default": database},
                INSTALLED_APPS=[APP],
                USE_TZ=True,
                DEFAULT_AUTO_FIELD="django.db.models.AutoField",
            )
            django.setup()
        from tests.integration.orm_support.django_app import models as module

        with connection.schema_editor() as editor:
            for model in (module.Author, module.Ticket, module.Membership):
                editor.create_model(model)
        yield module
        connection.close()


@pytest.fixture
async def rows(models: Any) -> dict[str, Any]:
    await models.Author.everyone.all().adelete()
    await models.Ticket.objects.all().adelete()
    await models.Membership.objects.all().adelete()
    authors = [
        await models.Author.objects.acreate(name=f"a{i}", email=f"a{i}@example.com")
        for i in range(1, 5)
    ]
    ticket = await models.Ticket.objects.acreate(title="open")
    members = [
        await models.Membership.objects.acreate(team="red", member_no=n, role="dev") for n in (1, 2)
    ]
    tasks.SEEN.clear()
    tasks.FAILED.clear()
    return {"authors": authors, "ticket": ticket, "members": members}


class Queries:
    """SQL run on the connection of Django's sync thread, where the worker loads rows."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.sql.append(sql)
        return execute(sql, params, many, context)

    async def __aenter__(self) -> Queries:
        from django.db import connection

        # evaluated in that thread: each thread has its own connection
        await sync_to_async(lambda: connection.execute_wrappers.append(self))()
        return self

    async def __aexit__(self, *exc: object) -> None:
        from django.db import connection

        await sync_to_async(lambda: connection.execute_wrappers.remove(self))()

    @property
    def selects(self) -> list[str]:
        return sorted(s.split("FROM", 1)[1].split()[0].strip('"') for s in self.sql)


async def test_the_task_sees_the_row_as_it_is_when_the_job_runs(
    models: Any, rows: dict[str, Any]
) -> None:
    authors, ticket, members = rows["authors"], rows["ticket"], rows["members"]
    broker = Broker()
    await broker.dispatch(
        tasks.GreetAuthor(author=authors[0]),
        tasks.Roster(authors=authors, tickets={"t": ticket}, members=set(members)),
    )
    # after dispatch: renamed, hidden from the default manager, ticket and role changed
    await models.Author.everyone.filter(pk=authors[0].pk).aupdate(name="Ada", active=False)
    await models.Ticket.objects.filter(pk=ticket.pk).aupdate(title="closed")
    await models.Membership.objects.filter(team="red", member_no=2).aupdate(role="lead")
    async with Queries() as queries:
        await broker.drain()
    greeting, roster = sorted(tasks.SEEN, key=lambda seen: isinstance(seen, dict))
    assert greeting == ("Ada", False)
    assert roster == {
        "authors": ["Ada", "a2", "a3", "a4"],
        "tickets": {"t": "closed"},
        "members": [("red", 1, "dev"), ("red", 2, "lead")],
    }
    prefix = "django_app_"
    assert queries.selects == [f"{prefix}{t}" for t in ("author", "author", "membership", "ticket")]


async def test_a_deleted_row_dead_letters_the_job_with_model_not_found(
    models: Any, rows: dict[str, Any]
) -> None:
    first, second = rows["authors"][:2]
    broker = Broker()
    plain, retried = await broker.dispatch(
        tasks.GreetAuthor(author=first), tasks.RetryMissing(author=second)
    )
    await models.Author.everyone.filter(pk__in=[first.pk, second.pk]).adelete()
    await broker.drain()
    job = await broker.job(plain)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.error is not None
    assert f"ModelNotFound: django_app.Author with primary key {first.pk} no longer" in job.error
    assert [type(e).__name__ for e in tasks.FAILED] == ["ModelNotFound"]
    again = await broker.job(retried)
    assert (again.state, again.attempts) == (JobState.FAILED, 2)
    assert tasks.SEEN == []


async def test_references_are_small_and_unsaved_instances_refused(
    models: Any, rows: dict[str, Any]
) -> None:
    author, member = rows["authors"][0], rows["members"][1]
    assert loads(dumps(author)) == DjangoRef("django_app.Author", author.pk)
    assert loads(dumps(member)) == DjangoRef("django_app.Membership", ("red", 2))
    with pytest.raises(UnsavedModelError, match=r"unsaved django_app.Author.*Save it"):
        dumps(models.Author(name="new"))
    # a UUID key is set before the row exists: still refused
    with pytest.raises(UnsavedModelError, match=r"django_app\.Ticket"):
        dumps({"t": models.Ticket(id=uuid.uuid4(), title="draft")})


@pytest.mark.parametrize(
    "name", ["os.system", "auth.User", "django_app.Nope", "forged_dj_module_zz.Thing"]
)
async def test_a_forged_reference_is_refused_and_nothing_imported(
    models: Any, rows: dict[str, Any], name: str
) -> None:
    broker = Broker()
    await broker.driver.connect()
    forged = msgpack.packb(
        {"args": {"author": msgpack.ExtType(21, msgpack.packb([name, 1]))}}, use_bin_type=True
    )
    [job_id] = await broker.driver.enqueue([Job(task=tasks.GreetAuthor.task_name, payload=forged)])
    await broker.drain()
    job = await broker.job(job_id)
    assert job.state is JobState.FAILED
    assert job.error is not None and "UnknownModelError: refused a reference" in job.error
    assert "forged_dj_module_zz" not in sys.modules
    assert "django.contrib.auth" not in sys.modules
    assert tasks.SEEN == []
