"""Esmerald, the reference tutorial adapted: the signup endpoint enqueues, the
in-app worker sends, /health returns queue_stats(), /ops reports.

    uvicorn esmerald_app:app
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from esmerald import Esmerald, Gateway, Include, get, post
from signup_tasks import send_welcome

from asynctasq.contrib.asgi import HealthApp, lifespan
from asynctasq.queues import Queue

email_queue = Queue("email", concurrency=5)
ops = HealthApp([email_queue])


@post("/signup", status_code=202)
async def signup(data: dict[str, Any]) -> dict[str, str]:
    job_id = await send_welcome.enqueue(data["email"], slow=data.get("slow", 0.0))
    return {"status": "queued", "job_id": job_id}


@get("/health")
async def health() -> dict[str, int]:
    return await email_queue.queue_stats()


@contextlib.asynccontextmanager
async def app_lifespan(app: Esmerald) -> AsyncIterator[None]:
    async with lifespan(email_queue) as workers:
        ops.workers = workers
        yield


app = Esmerald(
    routes=[Gateway(handler=signup), Gateway(handler=health), Include("/ops", app=ops)],
    lifespan=app_lifespan,
)
