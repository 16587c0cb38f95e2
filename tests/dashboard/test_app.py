"""The dashboard over HTTP (in process, no browser) on SQLite and Redis: each action
through the same operations as the CLI, authentication, CSRF, redaction, escaping."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from asynctasq.core.scheduling.scheduler import register
from asynctasq.dashboard import create_app, is_loopback
from asynctasq.dashboard.flows import layout
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Removal
from asynctasq.flow import FlowProducer
from asynctasq.flow import Job as FlowJob
from asynctasq.jobs import Job, JobState
from asynctasq.operations import show_job
from asynctasq.operations.schedules import list_schedules
from asynctasq.schedules import Schedule
from asynctasq.serialization.payload import encode_payload
from tests.backends import Backend
from tests.backends_redis import free_port, local_redis_url
from tests.cli.helpers import cli, dead_letters
from tests.conftest import only_backends
from tests.workers import ROOT

BROKERS = ("sqlite", "redis")
TOKEN = "s3cret-token"


@asynccontextmanager
async def client(driver: Driver, **options: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(driver=driver, **options)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as http:
        yield http


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page has no action form"
    return found.group(1)


async def press(http: httpx.AsyncClient, page: str, action: str, **fields: str) -> httpx.Response:
    """Load ``page``, then post its form ``action`` as the browser would."""
    shown = await http.get(page)
    return await http.post(f"{page}/{action}", data={"csrf": csrf_of(shown.text), **fields})


@only_backends(*BROKERS)
async def test_overview_queue_and_job_pages_show_what_the_cli_shows(backend: Backend) -> None:
    driver = await backend.new_driver()
    (job_id,) = await dead_letters(driver, 1, queue="email")
    async with client(driver) as http:
        overview = await http.get("/")
        assert overview.status_code == 200
        assert 'href="/queues/email"' in overview.text
        assert '<span data-count="failed">1</span>' in overview.text
        queue = await http.get("/queues/email", params={"state": "failed"})
        assert job_id[:8] in queue.text and "ValueError: bad address" in queue.text
        job = await http.get(f"/jobs/{job_id}")
        assert 'id="traceback"' in job.text and "Traceback (most recent call last)" in job.text
        # the password argument is hidden, in the page as in the CLI
        assert "hunter2" not in job.text and "&quot;password&quot;: &quot;***&quot;" in job.text
        dead = await http.get("/dead-letters")
        assert "app.mail.Send" in dead.text and "ValueError" in dead.text
        assert (await http.get("/jobs/no-such-job")).status_code == 404


@only_backends(*BROKERS)
async def test_retry_cancel_and_remove_act_on_the_job(backend: Backend) -> None:
    driver = await backend.new_driver()
    failed, removed = await dead_letters(driver, 2)
    (waiting,) = await driver.enqueue([Job(task="app.T", payload=encode_payload({}))])
    async with client(driver) as http:
        answer = await press(http, f"/jobs/{failed}", "retry")
        assert answer.status_code == 303
        assert "Retried+1+of+1" in answer.headers["location"]
        assert (await driver.get(failed)).state is JobState.PENDING  # type: ignore[attr-defined]

        await press(http, f"/jobs/{waiting}", "cancel")
        assert (await driver.get(waiting)).state is JobState.CANCELLED  # type: ignore[attr-defined]

        if not isinstance(driver, Removal):  # a broker that deletes by state and age only
            assert ">Remove</button>" not in (await http.get(f"/jobs/{removed}")).text
            return
        answer = await press(http, f"/jobs/{removed}", "remove")
        assert answer.headers["location"].startswith("/queues/default?message=Removed+1+of+1")
        assert await driver.get(removed) is None  # type: ignore[attr-defined]


@only_backends(*BROKERS)
async def test_pause_resume_clean_and_retry_all_act_on_the_queue(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 3)
    async with client(driver) as http:
        await press(http, "/queues/default", "pause")
        assert (await driver.stats("default")).paused  # type: ignore[attr-defined]
        await driver.enqueue([Job(task="app.T", payload=encode_payload({}))])
        assert await driver.claim(["default"], limit=1, worker_id="w", lease_seconds=9) == []
        page = await http.get("/queues/default")
        assert 'id="queue-status">paused' in page.text and ">Resume</button>" in page.text

        await press(http, "/queues/default", "resume")
        assert not (await driver.stats("default")).paused  # type: ignore[attr-defined]
        assert len(await driver.claim(["default"], limit=1, worker_id="w", lease_seconds=9)) == 1

        answer = await press(http, "/queues/default", "clean", state="failed", older_than="0s")
        assert "Deleted+3+failed" in answer.headers["location"]
        assert (await driver.stats("default")).failed == 0  # type: ignore[attr-defined]

        await dead_letters(driver, 2)
        answer = await press(http, "/queues/default", "retry-failed")
        assert "Retried+2+of+2" in answer.headers["location"]


@only_backends("sqlite")
async def test_actions_need_the_csrf_token_of_this_site(backend: Backend) -> None:
    driver = await backend.new_driver()
    (job_id,) = await dead_letters(driver, 1)
    async with client(driver) as http:
        forged = await http.post(f"/jobs/{job_id}/retry", data={"csrf": "0" * 64})
        missing = await http.post(f"/jobs/{job_id}/retry")
        token = csrf_of((await http.get(f"/jobs/{job_id}")).text)
        elsewhere = await http.post(
            f"/jobs/{job_id}/retry",
            data={"csrf": token},
            headers={"Origin": "https://evil.example"},
        )
        assert [r.status_code for r in (forged, missing, elsewhere)] == [403, 403, 403]
        assert (await driver.get(job_id)).state is JobState.FAILED  # type: ignore[attr-defined]


@only_backends("sqlite")
async def test_read_only_shows_no_button_and_refuses_actions(backend: Backend) -> None:
    driver = await backend.new_driver()
    (job_id,) = await dead_letters(driver, 1)
    async with client(driver, read_only=True) as http:
        page = await http.get(f"/jobs/{job_id}")
        assert "Retry</button>" not in page.text
        refused = await http.post(f"/jobs/{job_id}/retry", data={"csrf": "x"})
        assert refused.status_code == 403
        assert (await driver.get(job_id)).state is JobState.FAILED  # type: ignore[attr-defined]


@only_backends("sqlite")
async def test_a_token_is_asked_of_every_request(backend: Backend) -> None:
    driver = await backend.new_driver()
    async with client(driver, token=TOKEN) as http:
        for url in ("/", "/workers", "/events", "/static/dashboard.js"):
            refused = await http.get(url)
            assert refused.status_code == 401, url
            assert refused.headers["www-authenticate"].startswith("Basic")
        wrong = await http.get("/", headers={"Authorization": "Bearer nope"})
        bearer = await http.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
        basic = base64.b64encode(f"ops:{TOKEN}".encode()).decode()
        browser = await http.get("/", headers={"Authorization": f"Basic {basic}"})
        assert [wrong.status_code, bearer.status_code, browser.status_code] == [401, 200, 200]
        assert TOKEN not in bearer.text


@only_backends("sqlite")  # Redis refuses to claim a task named like markup: SQLite keeps it
async def test_hostile_task_names_arguments_and_errors_render_as_text(backend: Backend) -> None:
    driver = await backend.new_driver()
    hostile, image = "<script>alert(1)</script>", "<img src=x onerror=alert(2)>"
    (job_id,) = await dead_letters(driver, 1, task=f"app.{hostile}")
    (other,) = await driver.enqueue([Job(task="app.T", payload=encode_payload({"note": image}))])
    async with client(driver) as http:
        for url in ("/", "/queues/default", "/dead-letters", f"/jobs/{job_id}", f"/jobs/{other}"):
            text = (await http.get(url)).text
            assert hostile not in text and "<img" not in text, url
        for url in ("/queues/default", "/dead-letters", f"/jobs/{job_id}"):
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (await http.get(url)).text, url
        assert "&lt;img src=x onerror=alert(2)&gt;" in (await http.get(f"/jobs/{other}")).text
        page = await http.get(f"/jobs/{job_id}")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_loopback_addresses_are_told_apart() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7"])
def test_the_command_refuses_an_exposed_address_without_a_token(host: str) -> None:
    done = cli({"ASYNCTASQ_DRIVER": "memory"}, "dashboard", "--host", host, "--port", "1")
    assert done.returncode == 2
    assert "refusing to serve the dashboard" in done.stderr


@only_backends("sqlite")
async def test_the_command_serves_the_dashboard_behind_its_token(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 2, queue="email")
    port = free_port()
    env = {**backend.env(), "ASYNCTASQ_DASHBOARD_TOKEN": TOKEN}
    command = [sys.executable, "-m", "asynctasq", "dashboard", "--port", str(port)]
    full = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")} | env
    server = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=full, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        async with httpx.AsyncClient() as http:
            for _ in range(200):  # the interpreter starts and imports (a few seconds at most)
                try:
                    refused = await http.get(url)
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            allowed = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 401 and allowed.status_code == 200
        assert 'href="/queues/email"' in allowed.text
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)


@only_backends("sqlite")
async def test_mounted_in_an_app_its_links_and_forms_stay_under_the_mount(
    backend: Backend,
) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    driver = await backend.new_driver()
    (job_id,) = await dead_letters(driver, 1, queue="email")
    host = Starlette(routes=[Mount("/tasks", create_app(driver=driver))])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        overview = await http.get("/tasks/")
        assert 'href="/tasks/queues/email"' in overview.text
        assert 'src="/tasks/static/dashboard.js"' in overview.text
        assert (await http.get("/tasks/static/dashboard.js")).status_code == 200
        answer = await press(http, f"/tasks/jobs/{job_id}", "retry")
        assert answer.headers["location"].startswith(f"/tasks/jobs/{job_id}?message=Retried")


@only_backends("sqlite")
async def test_the_overview_charts_jobs_in_and_out_from_the_events(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 1, queue="email")
    config = backend.config(events_redis_url=local_redis_url())
    app = create_app(driver=driver, config=config)
    throughput = app.state.dashboard.hub.throughput
    now = time.time()
    for kind in ("task_enqueued", "task_enqueued", "task_completed", "task_started"):
        throughput.add(kind, "email", now)
    throughput.add("task_failed", "email", now - 120)
    assert throughput.series("email", now)[-3:] == [(0, 1), (0, 0), (2, 1)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as http:
        overview = (await http.get("/")).text
    assert 'aria-label="last 10 minutes: 2 in, 2 out"' in overview
    assert "<title>this minute: 2 in, 1 out</title>" in overview


@only_backends(*BROKERS)
async def test_schedules_page_pauses_resumes_and_runs_a_schedule_now(backend: Backend) -> None:
    driver = await backend.new_driver()
    nightly = Schedule(id="nightly", task="app.report", payload=b"", queue="reports",
                       cron="0 3 * * *", timezone="Europe/Paris")  # fmt: skip
    await register(driver, [nightly], time.time())
    async with client(driver) as http:
        shown = await http.get("/schedules")
        assert 'href="/schedules"' in shown.text  # in the nav
        assert "nightly" in shown.text and "cron 0 3 * * *" in shown.text
        assert "Europe/Paris" in shown.text and 'data-schedule="nightly">active' in shown.text
        answer = await press(http, "/schedules", "nightly/pause")
        assert answer.status_code == 303 and "Paused+schedule+nightly" in answer.headers["location"]
        paused = await http.get("/schedules")
        assert 'data-schedule="nightly">paused' in paused.text and ">Resume<" in paused.text
        await press(http, "/schedules", "nightly/resume")
        (stored,) = await list_schedules(driver)
        assert stored.paused is False
        ran = await press(http, "/schedules", "nightly/run-now")
        job_id = re.search(r"Enqueued\+job\+([^+]+)\+", ran.headers["location"])
        assert job_id is not None
        job = await show_job(driver, job_id.group(1))
        assert job is not None and job.task == "app.report" and job.state is JobState.PENDING
        missing = await press(http, "/schedules", "nope/pause")
        assert "failed" in missing.headers["location"]
        forged = await http.post("/schedules/nightly/pause", data={"csrf": "0" * 32})
        assert forged.status_code == 403


@only_backends(*BROKERS)
async def test_the_queue_page_searches_ids_task_names_and_argument_text(backend: Backend) -> None:
    driver = await backend.new_driver()
    mail = await dead_letters(driver, 3, task="app.mail.Send")
    (report,) = await driver.enqueue(
        [Job(task="app.reports.Build", payload=encode_payload({"customer": "Zebra Corp"}))]
    )
    async with client(driver) as http:

        async def shown(**query: str) -> set[str]:
            page = (await http.get("/queues/default", params=query)).text
            return set(re.findall(r'href="/jobs/([0-9a-f-]{36})"', page))

        assert await shown(q="zebra") == {report}  # argument text, any case
        assert await shown(q="reports.build") == {report}  # a task name
        assert await shown(q="mail.Send", state="failed") == set(mail)
        assert await shown(q="mail.Send", state="pending") == set()
        assert await shown(q=mail[1]) == {mail[1]}  # a whole id
        assert await shown(q=report[:-2]) == {report}  # the start of one
        # credentials are hidden from the search as from the page
        assert await shown(q="hunter2") == set()
        page = await http.get("/queues/default", params={"q": "<b>zebra"})
        assert "&lt;b&gt;zebra" in page.text and "<b>zebra" not in page.text


@only_backends(*BROKERS)
async def test_the_queue_page_pages_waiting_jobs_by_position(backend: Backend) -> None:
    driver = await backend.new_driver()
    ids = await driver.enqueue(
        [Job(task="app.T", payload=encode_payload({}), priority=n % 3) for n in range(60)]
    )
    order = [j.id for j in await driver.list_jobs("default", JobState.PENDING, limit=100)]  # type: ignore[attr-defined]
    async with client(driver) as http:

        async def page(url: str) -> tuple[list[str], str | None]:
            answer = await http.get(url)
            assert answer.status_code == 200
            shown = re.findall(r'href="/jobs/([0-9a-f-]{36})"', answer.text)
            onward = re.search(r'<p class="pager"><a href="([^"]+)">Next page</a>', answer.text)
            return shown, None if onward is None else onward.group(1).replace("&amp;", "&")

        last_first, onward = await page("/queues/default?state=pending&order=reverse")
        assert last_first == order[::-1][:50] and onward is not None
        assert (await page(onward))[0] == order[::-1][50:]

        first, onward = await page("/queues/default?state=pending")
        assert first == order[:50] and onward is not None
        # the jobs of the first page are claimed meanwhile: the next page goes on
        # after the last one shown, not 50 jobs further on
        claimed = await driver.claim(["default"], limit=50, worker_id="w", lease_seconds=60)
        assert sorted(j.id for j in claimed) == sorted(order[:50])
        rest, last = await page(onward)
        assert rest == order[50:] and last is None and sorted(first + rest) == sorted(ids)

        edited = base64.urlsafe_b64encode(b'k["pending",["x","y","z"]]').decode().rstrip("=")
        answer = await http.get(f"/queues/default?state=pending&cursor={edited}")
        assert answer.status_code == 400 and "invalid" in answer.text


async def follow(http: httpx.AsyncClient, location: str) -> list[dict[str, object]]:
    """The progress messages of a bulk run's stream, to its end."""
    messages = []
    stream = location.rstrip("/") + "/stream"
    async with http.stream("GET", stream) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        async for line in answer.aiter_lines():
            if line.startswith("data: "):
                messages.append(json.loads(line[6:]))
                if messages[-1]["phase"] in ("done", "failed"):
                    break
    return messages


@only_backends(*BROKERS)
async def test_retry_and_remove_all_matching_run_in_the_background_with_progress(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    mail = await dead_letters(driver, 4, task="app.mail.Send")
    other = await dead_letters(driver, 2, task="app.sms.Send")
    async with client(driver) as http:
        page = await http.get("/queues/default", params={"state": "failed", "q": "mail"})
        assert ">Retry all matching</button>" in page.text
        assert "Retry every one of the failed jobs of queue default, matching" in page.text
        # a bulk action needs a state, the CSRF token, and a known action
        token = csrf_of(page.text)
        answer = await http.post("/queues/default/bulk", data={"csrf": token, "action": "retry"})
        assert "choose+a+state" in answer.headers["location"]
        forged = await http.post(
            "/queues/default/bulk", data={"csrf": "0" * 64, "action": "retry", "state": "failed"}
        )
        assert forged.status_code == 403

        fields = {"csrf": token, "action": "retry", "state": "failed", "q": "mail"}
        answer = await http.post("/queues/default/bulk", data=fields)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/bulk/")
        messages = await follow(http, answer.headers["location"])
        assert messages[-1]["phase"] == "done"
        assert messages[-1]["report"] == "Retried 4 of 4 job(s)"
        assert messages[-1]["filter"] == "failed jobs of queue default, matching 'mail'"
        for job_id in mail:
            assert (await driver.get(job_id)).state is JobState.PENDING  # type: ignore[attr-defined]
        for job_id in other:
            assert (await driver.get(job_id)).state is JobState.FAILED  # type: ignore[attr-defined]
        done = await http.get(answer.headers["location"])
        assert "Retried 4 of 4 job(s)" in done.text and "data-stream" not in done.text

        if not isinstance(driver, Removal):
            return
        fields = {"csrf": token, "action": "remove", "state": "failed", "task": "app.sms.Send"}
        answer = await http.post("/queues/default/bulk", data=fields)
        messages = await follow(http, answer.headers["location"])
        assert messages[-1]["report"] == "Removed 2 of 2 job(s)"
        for job_id in other:
            assert await driver.get(job_id) is None  # type: ignore[attr-defined]
        assert (await http.get("/bulk/not-a-run")).status_code == 404


@only_backends("sqlite")
async def test_bulk_actions_are_refused_read_only(backend: Backend) -> None:
    driver = await backend.new_driver()
    await dead_letters(driver, 1)
    async with client(driver, read_only=True) as http:
        page = await http.get("/queues/default", params={"state": "failed"})
        assert "all matching</button>" not in page.text
        refused = await http.post(
            "/queues/default/bulk", data={"csrf": "x", "action": "retry", "state": "failed"}
        )
        assert refused.status_code == 403


@only_backends(*BROKERS)
async def test_a_dead_letter_group_links_to_its_jobs_ready_for_a_bulk_retry(
    backend: Backend,
) -> None:
    driver = await backend.new_driver()
    mail = await dead_letters(driver, 3, queue="email")
    async with client(driver) as http:
        dead = (await http.get("/dead-letters")).text
        found = re.search(r'<a href="(/queues/email\?[^"]*q=ValueError[^"]*)">3</a>', dead)
        assert found, dead
        group = await http.get(found.group(1).replace("&amp;", "&"))
        assert set(re.findall(r'href="/jobs/([0-9a-f-]{36})"', group.text)) == set(mail)
        assert ">Retry all matching</button>" in group.text


@only_backends(*BROKERS)
async def test_the_flow_page_draws_the_dag_with_each_job_s_state(backend: Backend) -> None:
    driver = await backend.new_driver()
    top = FlowJob(task_id="app.fetch", kwargs={}, name="<script>top</script>")
    left = FlowJob(task_id="app.left", kwargs={}, name="left", depends_on=[top.id])
    right = FlowJob(task_id="app.right", kwargs={}, name="right", depends_on=[top.id])
    end = FlowJob(task_id="app.end", kwargs={}, name="end", depends_on=[left.id, right.id])
    await FlowProducer(backend=driver).add_flow("flows", [top, left, right, end])
    flow = top.flow_id  # add_flow gives every job the flow's id
    assert flow is not None
    [claimed] = await driver.claim(["flows"], limit=5, worker_id="w", lease_seconds=30.0)
    assert claimed.id == top.id and await driver.complete(claimed)
    async with client(driver) as http:
        shown = await http.get(f"/flows/{flow}")
        assert shown.status_code == 200
        html = shown.text
        assert "<svg" in html and html.count('class="node ') == 4
        assert html.count("<line ") == 4  # top->left, top->right, left->end, right->end
        # top completed: its children are released, the last one waits on them
        assert 'class="node completed"' in html and html.count('class="node pending"') == 2
        assert f'class="node blocked" data-job="{end.id}"' in html
        assert "<script>top" not in html and "&lt;script&gt;top" in html
        assert f'href="/jobs/{end.id}"' in html
        assert 'id="flow-summary">4 jobs: 1 blocked, 1 completed, 2 pending.' in html
        missing = await http.get("/flows/no-such-flow")
        assert missing.status_code == 404 and 'id="unknown-flow"' in missing.text


def test_the_flow_layout_puts_a_job_right_of_its_deepest_parent() -> None:
    parents = {"b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d", "outside"]}
    assert layout(["a", "b", "c", "d", "e"], parents) == {
        "a": (0, 0),
        "b": (1, 0),
        "c": (1, 1),
        "d": (2, 0),
        "e": (3, 0),
    }


@only_backends(*BROKERS)
async def test_the_schedules_page_shows_each_schedule_s_last_run(backend: Backend) -> None:
    from asynctasq.core.scheduling.scheduler import Scheduler
    from asynctasq.schedules import slot_job_id

    driver = await backend.new_driver()
    ticking = Schedule(id="ticking", task="app.tick", payload=b"", every=1.0)
    await register(driver, [ticking], time.time())
    async with client(driver) as http:
        assert 'data-last-run="ticking"' not in (await http.get("/schedules")).text  # not yet
        deadline = time.monotonic() + 10
        fired: list[str] = []
        while not fired and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            fired = await Scheduler(driver).tick()
        assert fired, "the schedule never fired"
        (stored,) = await list_schedules(driver)
        last_slot = stored.slot_before(stored.next_at)
        shown = (await http.get("/schedules")).text
        assert f'href="/jobs/{slot_job_id("ticking", last_slot)}" data-last-run="ticking"' in shown
        assert "state pending" in shown.split('data-last-run="ticking"')[1][:200]
