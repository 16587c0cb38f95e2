"""``ttl=`` wherever a job is described: task config, ``@task``, ``with_options``,
``Queue.add``; each sets the job's ``expires_at`` to ``run_at + ttl``."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from asynctasq import Config
from asynctasq.core.backends import close_backends
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.queues import Queue
from asynctasq.tasks import task
from asynctasq.tasks.catalog import TASK_REGISTRY
from tests.asyncmq import tasks  # noqa: F401 - registers amq.add


@task(name="ttl.ping", ttl=30)
def ping() -> None:
    """A task whose jobs expire 30 s after they come due."""


@task(name="ttl.plain")
def plain() -> None: ...


def test_ttl_from_the_task_then_with_options() -> None:
    dispatcher = Dispatcher(MemoryDriver(), Config())
    now = time.time()
    assert dispatcher.build_job(ping(), now).expires_at == now + 30
    assert dispatcher.build_job(plain(), now).expires_at is None
    delayed = ping().delay(10).with_options(ttl=dt.timedelta(minutes=1))
    assert dispatcher.build_job(delayed, now).expires_at == pytest.approx(now + 10 + 60)
    assert TASK_REGISTRY["ttl.ping"].ttl == 30
    with pytest.raises(ValueError, match="ttl"):
        plain().with_options(ttl=0)


async def test_queue_add_sets_expiry() -> None:
    queue = Queue("q", backend="memory://")
    driver = await queue.driver()
    assert isinstance(driver, Inspection)
    before = time.time()
    known = await queue.add("amq.add", kwargs={"a": 1, "b": 2}, ttl=5, delay=1)
    unknown = await queue.add("not.registered", kwargs={}, ttl=5)
    for job_id, due in ((known, 1.0), (unknown, 0.0)):
        job = await driver.get(job_id)
        assert job is not None and job.expires_at is not None
        assert job.expires_at == pytest.approx(job.run_at + 5)
        assert job.run_at >= before + due
    with pytest.raises(ValueError, match="ttl"):
        await queue.add("amq.add", kwargs={"a": 1, "b": 2}, ttl=-1)
    await close_backends()
