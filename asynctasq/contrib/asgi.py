"""asynctasq inside an ASGI app (Esmerald, FastAPI, Starlette, Litestar...), with no
dependency on any of them (docs/integrations.md).

``lifespan(*queues)`` is an async context manager for the app's lifespan: it runs a
worker for each queue on the app's event loop (``Queue.run()``) while the app serves,
and at shut-down stops them as a worker stops on SIGTERM (jobs in flight finish within
``ASYNCTASQ_SHUTDOWN_TIMEOUT``, the rest go back to their queue), then closes the
dispatcher and the broker connections. Without queues it only closes at the end: an
app that dispatches and leaves the work to separate worker processes.

``HealthApp`` is a small ASGI app to mount (or serve on a port of its own):
``/health`` (the broker answers, the in-app workers are alive, each queue's counts),
``/metrics`` (the Prometheus queue gauges) and ``/backlog`` (the counts as JSON, for
KEDA's ``metrics-api`` scaler).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from asynctasq.core.backends import close_backends
from asynctasq.core.dispatcher import close_dispatcher
from asynctasq.operations.health import check_health
from asynctasq.queues import Queue

__all__ = ["HealthApp", "InAppWorkers", "lifespan"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class InAppWorkers:
    """The workers ``lifespan()`` runs on the app's event loop, one per queue."""

    def __init__(self, queues: Iterable[Queue | str]) -> None:
        self.queues = tuple(q if isinstance(q, Queue) else Queue(q) for q in queues)
        self._running: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._running = [
            asyncio.create_task(q.run(), name=f"asynctasq-worker-{q.name}") for q in self.queues
        ]

    @property
    def alive(self) -> bool:
        """Every worker still serving (one that crashed is done before its stop)."""
        return all(not task.done() for task in self._running)

    async def stop(self) -> None:
        """Stop them all at once, as SIGTERM would: jobs in flight finish within the
        shutdown timeout, the rest are released to their queue."""
        for task in self._running:
            task.cancel()
        for task in self._running:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def lifespan(*queues: Queue | str) -> AsyncIterator[InAppWorkers]:
    """``async with lifespan(Queue("emails", concurrency=5)):`` in the app's lifespan."""
    workers = InAppWorkers(queues)
    try:
        workers.start()
        yield workers
    finally:
        try:
            await workers.stop()
        finally:
            # last: the workers and the app's own dispatches are done with them
            await close_dispatcher()
            await close_backends()


class HealthApp:
    """An ASGI app: ``GET /health``, ``GET /metrics``, ``GET /backlog``.

    ``queues``: those whose counts are reported (the in-app workers' when ``workers``
    is given and ``queues`` is not). ``/health`` answers 503 when the broker does not
    answer or an in-app worker stopped, so a readiness probe can point at it.
    """

    def __init__(
        self,
        queues: Iterable[Queue | str] = (),
        *,
        workers: InAppWorkers | None = None,
    ) -> None:
        named = tuple(q if isinstance(q, Queue) else Queue(q) for q in queues)
        self.queues = named or (workers.queues if workers else ())
        self.workers = workers
        self._routes: dict[str, Callable[[], Awaitable[tuple[int, str, bytes]]]] = {
            "/health": self.health,
            "/metrics": self.metrics,
            "/backlog": self.backlog,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served alone: nothing to start
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path = scope.get("path", "/").rstrip("/") or "/"
        # mounted at /ops: the framework leaves the mount point in root_path
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        route = self._routes.get(path)
        if route is None or scope.get("method") not in ("GET", "HEAD"):
            status, kind, body = 404, "text/plain", b"not found"
        else:
            status, kind, body = await route()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", kind.encode()), (b"cache-control", b"no-store")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def counts(self) -> dict[str, dict[str, int]]:
        return {q.name: await q.queue_stats() for q in self.queues}

    async def health(self) -> tuple[int, str, bytes]:
        report: dict[str, Any] = {}
        try:
            driver = await (self.queues[0].driver() if self.queues else Queue("default").driver())
            report["broker"] = (await check_health(driver)).message
            report["queues"] = await self.counts()
            ok = True
        except Exception as exc:  # the probe's answer, not a crash of the app
            report["broker"] = f"unhealthy: {type(exc).__name__}"
            ok = False
        if self.workers is not None:
            report["workers_alive"] = self.workers.alive
            ok = ok and self.workers.alive
        report["ok"] = ok
        return (200 if ok else 503), "application/json", json.dumps(report).encode()

    async def backlog(self) -> tuple[int, str, bytes]:
        counts = await self.counts()
        total = sum(c["waiting"] for c in counts.values())
        body = {"waiting": total, "queues": counts}
        return 200, "application/json", json.dumps(body).encode()

    async def metrics(self) -> tuple[int, str, bytes]:
        # lazy: prometheus_client is the [monitoring] extra
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from asynctasq.core.metrics import MetricsExporter

        exporter = MetricsExporter()  # its own registry: the queue gauges, read now
        for queue in self.queues:  # each on its own broker (usually the same one)
            await exporter.refresh(await queue.driver(), [queue.name])
        return 200, CONTENT_TYPE_LATEST, generate_latest(exporter.registry)
