"""FastAPI: the signup endpoint enqueues, the in-app worker sends, /ops reports.

uvicorn fastapi_app:app
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pydantic import BaseModel
from signup_tasks import send_welcome

from asynctasq.contrib.asgi import HealthApp, lifespan
from asynctasq.queues import Queue

email_queue = Queue("email", concurrency=5)
ops = HealthApp([email_queue])


@contextlib.asynccontextmanager
async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with lifespan(email_queue) as workers:
        ops.workers = workers
        yield


app = FastAPI(lifespan=app_lifespan)
app.mount("/ops", ops)


class Signup(BaseModel):
    email: str
    slow: float = 0.0


@app.post("/signup", status_code=202)
async def signup(body: Signup) -> dict[str, str]:
    job_id = await send_welcome.enqueue(body.email, slow=body.slow)
    return {"status": "queued", "job_id": job_id}


@app.get("/health")
async def health() -> dict[str, int]:
    return await email_queue.queue_stats()
