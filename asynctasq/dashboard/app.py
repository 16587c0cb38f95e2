"""``create_app``: the dashboard as a Starlette app, served alone or mounted."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asynctasq.config import Config, get_global_config
from asynctasq.dashboard import actions, pages
from asynctasq.dashboard.context import Context
from asynctasq.dashboard.dead_letters import dead_letters
from asynctasq.dashboard.flows import flow_page, flows_page
from asynctasq.dashboard.live import EventHub
from asynctasq.dashboard.schedules import schedules
from asynctasq.dashboard.security import REALM, Guard
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import CapabilityMissing
from asynctasq.redaction import redact

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
View = Callable[[Request, Context], Awaitable[Response]]
#: every response: no framing by other sites, no sniffing, scripts from this site only
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(
    *,
    config: Config | None = None,
    driver: Driver | None = None,
    url: str | None = None,
    token: str | None = None,
    read_only: bool = False,
) -> Starlette:
    """The dashboard. ``driver``: a connected driver of yours (else one is made on
    the first request from ``url``, a broker URL, or from ``config``, the settings).
    ``token`` (default ``ASYNCTASQ_DASHBOARD_TOKEN``): asked of every request when
    set; leave it unset only on the loopback interface or behind your app's own
    authentication. ``read_only``: pages only, every action refused."""
    config = config or get_global_config()
    ctx = Context(
        config=config,
        guard=Guard(token if token is not None else config.dashboard_token),
        hub=EventHub(config),
        read_only=read_only,
        given=driver,
        url=url,
    )

    def view(handler: View) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, ctx)
            except CapabilityMissing as exc:
                return PlainTextResponse(redact(str(exc)), status_code=501)

        return endpoint

    async def events(request: Request) -> Response:
        return StreamingResponse(
            ctx.hub.stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
        )

    async def bulk_stream(request: Request) -> Response:
        run = ctx.bulk.get(request.path_params["id"])
        if run is None:
            return PlainTextResponse("no such bulk action", status_code=404)
        return StreamingResponse(
            ctx.bulk.stream(run), media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )  # fmt: skip

    routes = [
        Route("/", view(pages.overview)),
        Route("/queues/{name:path}/{action}", view(actions.queue_action), methods=["POST"]),
        Route("/queues/{name:path}", view(pages.queue)),
        Route("/jobs/{id}/{action}", view(actions.job_action), methods=["POST"]),
        Route("/jobs/{id}", view(pages.job)),
        Route("/workers", view(pages.workers)),
        Route("/dead-letters", view(dead_letters)),
        Route("/schedules/{id}/{action}", view(actions.schedule_action), methods=["POST"]),
        Route("/schedules", view(schedules)),
        Route("/flows", view(flows_page)),
        Route("/flows/{id}", view(flow_page)),
        Route("/bulk/{id}/stream", bulk_stream),
        Route("/bulk/{id}", view(pages.bulk_run)),
        Route("/events", events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await ctx.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = ctx
    app.add_middleware(_Guarded, guard=ctx.guard)
    return app


class _Guarded:
    """Refuses every request without the token (401 with a basic-auth challenge, so
    a browser asks for it) and sets the security headers on every answer."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.guard.allows(Request(scope)):
            refusal = PlainTextResponse(
                "authentication required", 401, headers={"WWW-Authenticate": REALM, **HEADERS}
            )
            await refusal(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    *((k.lower().encode(), v.encode()) for k, v in HEADERS.items()),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
