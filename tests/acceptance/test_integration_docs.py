"""docs/integrations.md and docs/deployment.md show the example and deployment files
as they are: a code block starting with ``# file: PATH`` holds the whole file."""

from __future__ import annotations

import re

import pytest

from tests.workers import ROOT

SHOWN = re.compile(r"^```\w*\n# file: (\S+)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
EXPECTED = {
    "integrations.md": {
        "examples/asgi/esmerald_app.py",
        "examples/asgi/fastapi_app.py",
        "examples/asgi/starlette_app.py",
        "examples/django/mysite/settings.py",
    },
    "deployment.md": {
        "Dockerfile",
        "docker-compose.yml",
        "deploy/kubernetes/worker.yaml",
        "deploy/kubernetes/keda-postgres.yaml",
        "deploy/kubernetes/keda-mysql.yaml",
        "deploy/kubernetes/keda-redis.yaml",
        "deploy/systemd/asynctasq-worker.service",
    },
}


@pytest.mark.parametrize("doc", sorted(EXPECTED))
def test_the_blocks_match_the_files(doc: str) -> None:
    shown = SHOWN.findall((ROOT / "docs" / doc).read_text())
    assert EXPECTED[doc] <= {path for path, _ in shown}
    for path, text in shown:
        assert text == (ROOT / path).read_text(), f"{doc}: the block of {path} is out of date"
