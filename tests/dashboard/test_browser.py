"""The dashboard in a real browser (Debian's chromium, driven by Playwright) against
real brokers, with a real worker: what an operator sees and does."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, expect
from playwright.async_api import Error as PlaywrightError

from asynctasq.dashboard import create_app
from asynctasq.jobs import Failed, Job, JobState
from asynctasq.serialization.payload import encode_payload
from tests.backends import Backend
from tests.backends_redis import local_redis_url
from tests.cli.helpers import dead_letters
from tests.conftest import only_backends
from tests.dashboard.browser import SCREENSHOTS, chromium, failed_record, served
from tests.sample_tasks import recorded
from tests.workers import spawn_worker, stop

#: read at import: the test session clears ASYNCTASQ_* variables before each test
UPDATE_SCREENSHOTS = os.environ.get("ASYNCTASQ_UPDATE_SCREENSHOTS") == "1"
LIVE = 20_000  # ms a live update may take: a worker poll, an event, a re-read


async def accept(dialog: Dialog) -> None:
    await dialog.accept()


async def screenshot(page: Page, backend: Backend, name: str, tmp_path: Path) -> None:
    """Every page is photographed; into docs/img (the SQLite run's) with
    ASYNCTASQ_UPDATE_SCREENSHOTS=1, else into the test's directory, so a test run leaves
    the checkout as it was."""
    folder = SCREENSHOTS if UPDATE_SCREENSHOTS and backend.name == "sqlite" else tmp_path
    await page.screenshot(path=str(folder / f"dashboard-{name}.png"), full_page=True)
    assert (folder / f"dashboard-{name}.png").stat().st_size > 0


@only_backends("sqlite", "redis")
async def test_an_operator_retries_a_dead_letter_and_pauses_a_queue_live(
    backend: Backend, tmp_path: Path
) -> None:
    driver = await backend.new_driver()
    log = tmp_path / "ran.log"
    job_id = await failed_record(driver, "first", log)
    events = {
        "ASYNCTASQ_KEEP_COMPLETED_TASKS": "true",  # a completed job keeps its page
        "ASYNCTASQ_EVENTS_REDIS_URL": local_redis_url(),
        "ASYNCTASQ_EVENTS_CHANNEL": f"{backend.namespace}:events",
    }
    config = backend.config(
        events_redis_url=events["ASYNCTASQ_EVENTS_REDIS_URL"],
        events_channel=events["ASYNCTASQ_EVENTS_CHANNEL"],
    )
    worker = spawn_worker({**backend.env(), **events}, log_path=tmp_path / "worker.log")
    try:
        async with served(create_app(config=config, driver=driver)) as url, chromium() as browser:
            page = await browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("dialog", accept)
            await page.goto(url)
            await expect(page.locator('[data-count="failed"]')).to_have_text("1")
            await expect(page.locator("#live")).to_have_text("live")
            await screenshot(page, backend, "overview", tmp_path)

            await page.get_by_role("link", name="default", exact=True).click()
            await expect(page.get_by_role("heading", name="Queue default")).to_be_visible()
            await screenshot(page, backend, "queue", tmp_path)

            await page.goto(f"{url}jobs/{job_id}")
            await expect(page.locator("#traceback")).to_contain_text(
                "Traceback (most recent call last)"
            )
            await expect(page.locator("#job-state")).to_have_text("failed")
            await screenshot(page, backend, "job", tmp_path)

            await page.get_by_role("button", name="Retry").click()  # confirmed by accept
            await expect(page.locator(".message")).to_contain_text("Retried 1 of 1")
            await page.evaluate("window.notReloaded = true")
            # the worker runs it; the event reaches the page, which updates in place
            await expect(page.locator("#job-state")).to_have_text("completed", timeout=LIVE)
            assert await page.evaluate("window.notReloaded === true")
            assert recorded(str(log)) == ["first"]

            await page.goto(f"{url}queues/default")
            await page.get_by_role("button", name="Pause").click()
            await expect(page.locator("#queue-status")).to_have_text("paused")
            job = Job(
                task="tests.sample_tasks.Record",
                payload=encode_payload({"key": "second", "log": str(log)}),
            )
            (second,) = await driver.enqueue([job])
            await asyncio.sleep(2)  # several worker polls: a paused queue gives it nothing
            assert recorded(str(log)) == ["first"]
            assert (await driver.get(second)).state is JobState.PENDING  # type: ignore[attr-defined]

            await page.get_by_role("button", name="Resume").click()
            await expect(page.locator("#queue-status")).to_have_text("running")
            await page.goto(f"{url}jobs/{second}")
            await expect(page.locator("#job-state")).to_have_text("completed", timeout=LIVE)

            await page.goto(f"{url}workers")
            await expect(page.locator("td", has_text="alive")).to_have_count(1)
            await screenshot(page, backend, "workers", tmp_path)
            await failed_record(driver, "third", log, queue="reports")  # a queue none serves
            await page.goto(f"{url}dead-letters")
            await expect(page.get_by_role("cell", name="ConnectionError")).to_be_visible()
            await screenshot(page, backend, "dead-letters", tmp_path)
    finally:
        stop(worker)


@only_backends("sqlite")
async def test_without_events_the_page_refreshes_itself(backend: Backend) -> None:
    driver = await backend.new_driver()
    (job_id,) = await driver.enqueue([Job(task="app.T", payload=encode_payload({}))])
    async with served(create_app(driver=driver)) as url, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{url}jobs/{job_id}")
        await expect(page.locator("#live")).to_have_text("refreshing every 5s")
        await page.evaluate("window.notReloaded = true")
        (claimed,) = await driver.claim(["default"], limit=1, worker_id="w", lease_seconds=60)
        # failed, not completed: this broker keeps no completed job to show
        await driver.settle([Failed(job_id, "w", claimed.attempts, "default", error="E: x")])
        await expect(page.locator("#job-state")).to_have_text("failed", timeout=LIVE)
        assert await page.evaluate("window.notReloaded === true")


@only_backends("sqlite")
async def test_an_exposed_dashboard_refuses_a_browser_without_the_token(backend: Backend) -> None:
    driver = await backend.new_driver()
    app = create_app(driver=driver, token="s3cret")
    async with served(app) as url, chromium() as browser:
        stranger = await browser.new_page()
        # headless chromium turns the 401 challenge, with nothing to answer it, into this
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            await stranger.goto(url)
        refused = await stranger.request.get(url)
        assert refused.status == 401 and "Overview" not in await refused.text()
        context = await browser.new_context(
            http_credentials={"username": "ops", "password": "s3cret"}
        )
        operator = await context.new_page()
        answer = await operator.goto(url)
        assert answer is not None and answer.status == 200
        await expect(operator.get_by_role("heading", name="Overview")).to_be_visible()
        await context.close()


@only_backends("sqlite")
async def test_a_script_in_a_task_name_renders_as_text(backend: Backend) -> None:
    driver = await backend.new_driver()
    hostile = "app.<script>window.pwned=1</script>"
    (job_id,) = await driver.enqueue([Job(task=hostile, payload=encode_payload({}))])
    async with served(create_app(driver=driver)) as url, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{url}jobs/{job_id}")
        await expect(page.locator("h1")).to_have_text(f"Job {hostile}")
        assert await page.evaluate("window.pwned === undefined")


@only_backends("sqlite", "redis")
async def test_an_operator_searches_a_queue_and_retries_all_matching_with_progress(
    backend: Backend, tmp_path: Path
) -> None:
    driver = await backend.new_driver()
    mail = await dead_letters(driver, 1200, task="app.mail.Send")  # three batches of 500
    await dead_letters(driver, 3, task="app.sms.Send")
    (zebra,) = await driver.enqueue(
        [Job(task="app.reports.Build", payload=encode_payload({"customer": "Zebra Corp"}))]
    )
    async with served(create_app(driver=driver)) as url, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        page.on("dialog", accept)
        await page.goto(f"{url}queues/default")
        await page.get_by_label("Search").fill("zebra corp")  # argument text
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("tbody tr")).to_have_count(1)
        await expect(page.get_by_role("link", name=zebra[:8])).to_be_visible()

        await page.get_by_label("Search").fill("mail.send")  # a task name
        await page.get_by_label("State").select_option("failed")
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("tbody tr")).to_have_count(50)  # a page of them
        await expect(page.locator("tbody")).not_to_contain_text("app.sms.Send")
        await expect(page.get_by_role("link", name="Next page")).to_be_visible()
        await screenshot(page, backend, "search", tmp_path)

        await page.get_by_role("button", name="Retry all matching").click()  # confirmed
        await expect(page.get_by_role("heading", name="Bulk retry")).to_be_visible()
        await page.evaluate("window.notReloaded = true")
        # the progress comes from the run's own stream, into this page as it is
        await expect(page.locator("#bulk-status")).to_have_text(
            "Retried 1200 of 1200 job(s)", timeout=LIVE
        )
        assert await page.evaluate("window.notReloaded === true")
        assert await page.locator("#bulk-progress").evaluate("bar => bar.value === bar.max")
        await screenshot(page, backend, "bulk", tmp_path)
    stats = await driver.stats("default")  # type: ignore[attr-defined]
    assert (stats.depth, stats.failed) == (1200 + 1, 3)
    assert (await driver.get(mail[0])).state is JobState.PENDING  # type: ignore[attr-defined]


@only_backends("sqlite", "redis")
async def test_an_operator_follows_a_flow_from_its_drawing_to_a_job(
    backend: Backend, tmp_path: Path
) -> None:
    from asynctasq.flow import FlowProducer
    from asynctasq.flow import Job as FlowJob

    driver = await backend.new_driver()
    fetch = FlowJob(task_id="app.fetch", kwargs={}, name="fetch")
    parts = [
        FlowJob(task_id="app.parse", kwargs={"part": i}, name=f"parse-{i}", depends_on=[fetch.id])
        for i in range(3)
    ]
    store = FlowJob(task_id="app.store", kwargs={}, name="store", depends_on=[p.id for p in parts])
    await FlowProducer(backend=driver).add_flow("default", [fetch, *parts, store])
    [claimed] = await driver.claim(["default"], limit=5, worker_id="w", lease_seconds=30.0)
    assert await driver.complete(claimed)  # fetch done: the parse jobs are released
    async with served(create_app(driver=driver)) as url, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1200, "height": 700})
        await page.goto(url)
        await page.get_by_role("navigation").get_by_role("link", name="Flows").click()
        await expect(page).to_have_url(f"{url}flows")
        await expect(page.locator(f'[data-jobs="{fetch.flow_id}"]')).to_have_text("5")
        await screenshot(page, backend, "flows", tmp_path)
        await page.get_by_role("link", name=str(fetch.flow_id)).click()
        await expect(page).to_have_url(f"{url}flows/{fetch.flow_id}")
        await expect(page.locator("svg.dag a.node")).to_have_count(5)
        await expect(page.locator("svg.dag line")).to_have_count(6)
        await expect(page.locator("#flow-summary")).to_contain_text("1 blocked, 1 completed")
        await screenshot(page, backend, "flow", tmp_path)
        await page.locator(f'svg.dag a[data-job="{store.id}"]').click()
        await expect(page).to_have_url(f"{url}jobs/{store.id}")
        # and back from the job to its flow
        await page.locator("#job-flow").click()
        await expect(page).to_have_url(f"{url}flows/{fetch.flow_id}")
