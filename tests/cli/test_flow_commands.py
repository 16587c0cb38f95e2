"""``asynctasq flow list`` as users run it (a subprocess): the flows newest first, a
page at a time, with their jobs counted by state; a bad cursor in one line."""

from __future__ import annotations

import pytest

from asynctasq.flow import FlowProducer, Job
from tests.backends import Backend
from tests.cli.helpers import cli, cli_json
from tests.conftest import only_backends

pytestmark = pytest.mark.timeout(120)


@only_backends("sqlite", "redis")
async def test_flow_list(backend: Backend) -> None:
    driver = await backend.new_driver()
    env = backend.env()
    ids = []
    for n in range(3):
        head = Job(task_id="app.fetch", name=f"fetch{n}")
        await FlowProducer(backend=driver).add_flow(
            "flows", [head, Job(task_id="app.store", depends_on=[head.id])]
        )
        ids.append(head.flow_id)
    page = cli_json(env, "flow", "list", "--limit", "2")
    assert [f["flow_id"] for f in page["flows"]] == ids[:0:-1]
    assert page["flows"][0] | {"created_at": 0} == {
        "flow_id": ids[2], "created_at": 0, "jobs": 2, "name": "fetch2",
        "states": {"blocked": 1, "pending": 1},
    }  # fmt: skip
    rest = cli_json(env, "flow", "list", "--limit", "2", "--cursor", page["next_cursor"])
    assert [f["flow_id"] for f in rest["flows"]] == ids[:1] and rest["next_cursor"] is None
    bad = cli(env, "flow", "list", "--cursor", "garbage")
    assert bad.returncode != 0 and "invalid flow cursor" in bad.stderr
