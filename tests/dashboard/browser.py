"""What the browser tests share: Debian's chromium driven by Playwright, a dashboard
served by uvicorn on a free loopback port, and dead letters of a task a worker runs.

The browser is /usr/bin/chromium (``apt-get install -y chromium``; `make test` runs
scripts/ensure-services.sh, which installs it). Playwright's own browser downloads are
never used. Without the browser the tests fail, saying how to install it: a browser
test that skips would hide that the dashboard was never tried.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright
from starlette.applications import Starlette

from asynctasq.drivers.base import Driver
from asynctasq.jobs import Failed, Job
from asynctasq.serialization.payload import encode_payload
from tests.backends_redis import free_port

CHROMIUM = os.environ.get("ASYNCTASQ_TEST_CHROMIUM") or shutil.which("chromium") or ""
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
ERROR = (
    "ConnectionError: mail server refused order {key}\n\nTraceback (most recent call last):\n"
    '  File "app/mail.py", line 12, in execute\nConnectionError: mail server refused order {key}'
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.fail(
            "no chromium for the dashboard's browser tests: run `apt-get install -y chromium` "
            "(scripts/ensure-services.sh does) or point ASYNCTASQ_TEST_CHROMIUM at one"
        )
    async with async_playwright() as playwright:
        # --no-sandbox: the tests run as root in CI, where chromium's sandbox refuses
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[str]:
    """``app`` on a free loopback port of this event loop; yields its URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    running = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if running.done():
            running.result()  # raises why it could not start
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True  # the browser is closed first: no event stream holds it
        await running


async def failed_record(driver: Driver, key: str, log: Path, queue: str = "default") -> str:
    """A job of tests.sample_tasks.Record, failed for good with a traceback: retried,
    a worker runs it and it completes."""
    job = Job(
        task="tests.sample_tasks.Record",
        payload=encode_payload({"key": key, "log": str(log)}),
        queue=queue,
    )
    (job_id,) = await driver.enqueue([job])
    (claimed,) = await driver.claim([queue], limit=1, worker_id="w-test", lease_seconds=60)
    failure = Failed(job_id, "w-test", claimed.attempts, queue, error=ERROR.format(key=key))
    assert await driver.settle([failure]) == [True]
    return job_id
