"""The dashboard's flows list (``/flows``), a job's link to its flow, and the
dead-letter page's counts, on SQLite and Redis (in process, no browser)."""

from __future__ import annotations

import re

import httpx
import pytest

from asynctasq.dashboard import create_app
from asynctasq.dashboard import dead_letters as dead_letter_page
from asynctasq.dashboard import flows as flows_page
from asynctasq.flow import FlowProducer
from asynctasq.flow import Job as FlowJob
from tests.backends import Backend
from tests.cli.helpers import dead_letters
from tests.conftest import only_backends
from tests.dashboard.test_app import BROKERS, client
from tests.drivers.test_failed_groups import fail


async def add_flows(driver: object, count: int) -> list[list[FlowJob]]:
    flows = []
    for i in range(count):
        head = FlowJob(task_id="app.fetch", name=f"<script>alert({i})</script>")
        tail = FlowJob(task_id="app.store", name=f"store{i}", depends_on=[head.id])
        await FlowProducer(backend=driver).add_flow("flows", [head, tail])  # type: ignore[arg-type]
        flows.append([head, tail])
    return flows


@only_backends(*BROKERS)
async def test_the_flows_page_lists_flows_newest_first_a_page_at_a_time(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flows_page, "FLOWS_PAGE", 2)
    driver = await backend.new_driver()
    async with client(driver, read_only=True) as http:
        empty = await http.get("/flows")
        assert empty.status_code == 200 and "No flows" in empty.text
        assert 'href="/flows">Flows</a>' in empty.text  # in the navigation
        flows = await add_flows(driver, 3)
        first = await http.get("/flows")
        assert first.status_code == 200
        shown = re.findall(r'href="/flows/([0-9a-f-]{36})"', first.text)
        assert shown == [flows[2][0].flow_id, flows[1][0].flow_id]
        assert "<script>alert" not in first.text and "&lt;script&gt;alert(2)" in first.text
        assert f'data-jobs="{flows[2][0].flow_id}">2<' in first.text
        assert '<span class="state blocked">blocked: 1</span>' in first.text
        assert '<span class="state pending">pending: 1</span>' in first.text
        onward = re.search(r'<p class="pager"><a href="([^"]+)">Next page', first.text)
        assert onward, "the first page links to the next"
        second = await http.get(onward.group(1).replace("&amp;", "&"))
        assert re.findall(r'href="/flows/([0-9a-f-]{36})"', second.text) == [flows[0][0].flow_id]
        assert 'class="pager"' not in second.text
        bad = await http.get("/flows", params={"cursor": "garbage"})
        assert bad.status_code == 400 and "invalid flow cursor" in bad.text


@only_backends(*BROKERS)
async def test_a_job_page_links_to_its_flow(backend: Backend) -> None:
    driver = await backend.new_driver()
    [[head, tail]] = await add_flows(driver, 1)
    async with client(driver) as http:
        page = await http.get(f"/jobs/{tail.id}")
        assert f'<a href="/flows/{tail.flow_id}" id="job-flow">{tail.flow_id} (store0)</a>' in (
            page.text
        )
        named = await http.get(f"/jobs/{head.id}")
        assert "&lt;script&gt;alert(0)&lt;/script&gt;" in named.text
        assert "<script>alert" not in named.text
        (alone,) = await dead_letters(driver, 1)
        assert 'id="job-flow"' not in (await http.get(f"/jobs/{alone}")).text


@only_backends("sqlite")
async def test_the_flows_page_stays_under_the_mount_point(backend: Backend) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    driver = await backend.new_driver()
    [[head, _]] = await add_flows(driver, 1)
    host = Starlette(routes=[Mount("/tasks", create_app(driver=driver))])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        page = await http.get("/tasks/flows")
        assert page.status_code == 200
        assert f'href="/tasks/flows/{head.flow_id}"' in page.text
        assert 'href="/tasks/flows">Flows</a>' in page.text


@only_backends(*BROKERS)
async def test_the_dead_letter_page_counts_every_failed_job_or_says_how_many(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dead_letter_page, "BUDGET", 3)
    driver = await backend.new_driver()
    await dead_letters(driver, 5, queue="email")
    await fail(driver, "other", "app.Parse", ["<b>Bad</b>: markup"])
    async with client(driver, read_only=True) as http:
        page = await http.get("/dead-letters")
        assert page.status_code == 200
        assert "<b>Bad" not in page.text and "&lt;b&gt;Bad&lt;/b&gt;" in page.text
        link = re.search(r'<a href="([^"]+)">(\d+)</a></td></tr>', page.text)
        assert link, "each group links to its jobs"
        assert "state=failed" in link.group(1) and "q=ValueError" in link.group(1)
        if backend.name == "sqlite":  # one GROUP BY: every job counted
            assert link.group(2) == "5" and "data-partial" not in page.text
        else:  # the newest three, and the page says so
            assert link.group(2) == "3"
            assert 'data-partial="email"' in page.text and "newest 3 of 5" in page.text
