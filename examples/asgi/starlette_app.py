"""Starlette: the signup endpoint enqueues, the in-app worker sends, /ops reports.

uvicorn starlette_app:app
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from signup_tasks import send_welcome
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asynctasq.contrib.asgi import HealthApp, lifespan
from asynctasq.queues import Queue

email_queue = Queue("email", concurrency=5)
ops = HealthApp([email_queue])


async def signup(request: Request) -> JSONResponse:
    body = await request.json()
    job_id = await send_welcome.enqueue(body["email"], slow=body.get("slow", 0.0))
    return JSONResponse({"status": "queued", "job_id": job_id}, status_code=202)


async def health(request: Request) -> JSONResponse:
    return JSONResponse(await email_queue.queue_stats())


@contextlib.asynccontextmanager
async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
    async with lifespan(email_queue) as workers:  # a worker for "email" in this process
        ops.workers = workers
        yield
    # here: jobs in flight finished (or went back to the queue), connections closed


app = Starlette(
    routes=[
        Route("/signup", signup, methods=["POST"]),
        Route("/health", health),
        Mount("/ops", app=ops),
    ],
    lifespan=app_lifespan,
)
