"""HealthApp answers a probe honestly: 503 when the broker is down or an in-app worker
stopped, 404 elsewhere; lifespan() closes what it opened."""

from __future__ import annotations

import asyncio

import httpx

from asynctasq.contrib.asgi import HealthApp, lifespan
from asynctasq.core.backends import close_backends
from asynctasq.queues import Queue
from tests.backend_base import Backend
from tests.conftest import only_backends


async def get(app: HealthApp, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as client:
        return await client.get(path)


async def test_an_unreachable_broker_answers_503() -> None:
    # nothing listens on port 1: the connection is refused at once
    app = HealthApp([Queue("default", backend="redis://127.0.0.1:1/0")])
    try:
        response = await get(app, "/health")
    finally:
        await close_backends()
    assert response.status_code == 503
    assert response.json()["ok"] is False
    assert response.json()["broker"].startswith("unhealthy: ")
    assert (await get(app, "/nowhere")).status_code == 404


@only_backends("redis")
async def test_a_stopped_in_app_worker_answers_503(backend: Backend) -> None:
    queue = Queue("default", backend=await backend.new_driver())
    async with lifespan(queue) as workers:
        app = HealthApp(workers=workers)
        healthy = await get(app, "/health")
        assert healthy.status_code == 200 and healthy.json()["workers_alive"] is True
        assert healthy.json()["queues"] == {"default": await queue.queue_stats()}
        await workers.stop()
        stopped = await get(app, "/health")
        assert stopped.status_code == 503 and stopped.json()["workers_alive"] is False
    assert all(
        task.done()
        for task in asyncio.all_tasks()
        if task.get_name().startswith("asynctasq-worker")
    )
