"""examples/asgi: each framework's app driven through its real lifespan with a real
broker. Enqueue over HTTP, the in-app worker runs the job, the health endpoints
report it, and a shut-down in the middle of a job loses nothing."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest

from asynctasq.config import set_global_config
from asynctasq.queues import Queue
from tests.asgi import served
from tests.backend_base import Backend
from tests.conftest import only_backends
from tests.workers import ROOT

EXAMPLE = ROOT / "examples" / "asgi"
APPS = ("starlette_app", "fastapi_app", "esmerald_app")


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Import an example app afresh, configured from the environment as in production."""
    monkeypatch.syspath_prepend(str(EXAMPLE))

    def load_app(name: str, backend: Backend, shutdown_timeout: float = 20) -> ModuleType:
        for key, value in {
            **backend.env(),
            "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",
            "ASYNCTASQ_SHUTDOWN_TIMEOUT": str(shutdown_timeout),
        }.items():
            monkeypatch.setenv(key, value)
        set_global_config(None)
        for module in (name, "signup_tasks"):
            sys.modules.pop(module, None)
        return importlib.import_module(name)

    yield load_app
    for module in (*APPS, "signup_tasks"):
        sys.modules.pop(module, None)
    set_global_config(None)


async def eventually(check: object, what: str) -> None:
    for _ in range(1000):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


@pytest.mark.parametrize("app_name", APPS)
@only_backends("redis", "postgres")
async def test_signup_runs_in_the_app_and_shutdown_loses_nothing(
    backend: Backend, load: object, app_name: str
) -> None:
    module = load(app_name, backend)  # type: ignore[operator]
    sent: list[str] = sys.modules["signup_tasks"].SENT
    async with served(module.app) as client:
        response = await client.post("/signup", json={"email": "ada@example.com"})
        assert response.status_code == 202, response.text
        assert response.json()["job_id"]

        async def delivered() -> bool:
            return (await client.get("/health")).json()["completed"] == 1

        await eventually(delivered, "the health endpoint reports the job completed")
        assert sent == ["ada@example.com"]  # run by the in-app worker
        assert (await client.get("/health")).json()["waiting"] == 0

        ops = await client.get("/ops/health")
        assert ops.status_code == 200, ops.text
        assert ops.json()["ok"] is True and ops.json()["workers_alive"] is True
        assert ops.json()["queues"]["email"]["completed"] == 1
        metrics = (await client.get("/ops/metrics")).text
        assert 'asynctasq_queue_jobs{queue="email",state="completed"} 1.0' in metrics

        # a slow job under way when the app is told to stop
        response = await client.post("/signup", json={"email": "bob@example.com", "slow": 0.5})
        assert response.status_code == 202, response.text

        async def running() -> bool:
            return (await client.get("/health")).json()["active"] == 1

        await eventually(running, "the slow job started")
        assert "bob@example.com" not in sent
    # the lifespan's shutdown waited for the job in flight
    assert sent == ["ada@example.com", "bob@example.com"]
    stats = await module.email_queue.queue_stats()
    assert stats["completed"] == 2 and stats["active"] == 0 and stats["waiting"] == 0, stats


@only_backends("redis")
async def test_a_job_longer_than_the_grace_period_goes_back_and_the_next_app_runs_it(
    backend: Backend, load: object
) -> None:
    module = load("starlette_app", backend, shutdown_timeout=0.2)  # type: ignore[operator]
    sent: list[str] = sys.modules["signup_tasks"].SENT
    async with served(module.app) as client:
        await client.post("/signup", json={"email": "cy@example.com", "slow": 1.5})

        async def running() -> bool:
            return (await client.get("/health")).json()["active"] == 1

        await eventually(running, "the slow job started")
    # stopped before the job could finish: released to the queue, not lost
    assert sent == []
    stats = await module.email_queue.queue_stats()
    assert stats["waiting"] == 1 and stats["active"] == 0, stats

    # the next deployment of the app (a second in-app worker) runs it
    async with served(module.app) as client:

        async def delivered() -> bool:
            return (await client.get("/health")).json()["completed"] == 1

        await eventually(delivered, "the released job completed")
    assert sent == ["cy@example.com"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@only_backends("redis")
async def test_uvicorn_on_sigterm_finishes_the_job_in_flight_then_exits(backend: Backend) -> None:
    """A real server: what Kubernetes does to a pod (SIGTERM) lets the job finish."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env.update(backend.env(), ASYNCTASQ_KEEP_COMPLETED_TASKS="true", PYTHONPATH=str(ROOT))
    env["ASYNCTASQ_SHUTDOWN_TIMEOUT"] = "20"
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "starlette_app:app", "--port", str(port)),
        cwd=EXAMPLE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    queue = Queue("email", backend=await backend.new_driver())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def up() -> bool:
                try:
                    return (await client.get("/ops/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, "uvicorn serves the app")
            response = await client.post("/signup", json={"email": "di@example.com", "slow": 1})
            assert response.status_code == 202, response.text

        async def running() -> bool:
            return (await queue.queue_stats())["active"] == 1

        await eventually(running, "the slow job started")
        server.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(server.communicate(), 60))[0].decode()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    # uvicorn re-raises the signal once shut down: "killed by SIGTERM", after a clean stop
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete." in output
    assert "welcome email sent to di@example.com" in output
    stats = await queue.queue_stats()
    assert stats["completed"] == 1 and stats["active"] == 0 and stats["waiting"] == 0, stats
