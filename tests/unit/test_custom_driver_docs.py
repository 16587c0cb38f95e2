"""docs/drivers/custom.md: the snippet that wires the conformance suite works as
written, run by pytest in a fresh process on a driver a user could write
(``UrlDriver`` of custom_driver.py standing in for ``MyDriver``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from asynctasq.drivers.base import Driver
from asynctasq.jobs import Job, Outcome, Recovery
from asynctasq.testing.conformance import CHECKS, Target

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "drivers" / "custom.md"
STAND_IN = "from tests.unit.custom_driver import UrlDriver as MyDriver"


def the_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    (snippet,) = [b for b in blocks if "DriverConformance" in b]
    assert "from mybroker_asynctasq import MyDriver" in snippet
    return snippet.replace("from mybroker_asynctasq import MyDriver", STAND_IN).replace(
        "model_examples = 200", "model_examples = 15"
    )


def test_the_documented_wiring_runs_the_contract_and_the_model(tmp_path: Path) -> None:
    test_file = tmp_path / "test_my_conformance.py"
    test_file.write_text(the_snippet())
    chosen = "connect_is_idempotent or outcomes_are_fenced or lifecycle_model"
    pytest_args = ["-p", "no:cacheprovider", "-q", "-rs", "-s", "-k", chosen, str(test_file)]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout, run.stdout
    assert "lifecycle model test on mybroker: 15 examples" in run.stdout, run.stdout


class CoreOnly(Driver):
    """The core and nothing else (never connected: the check is skipped before)."""

    name = "coreonly"

    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def enqueue(self, jobs: object, *, connection: object = None) -> list[str]:
        return []

    async def claim(self, queues: object, **kw: object) -> list[Job]:
        return []

    async def settle(self, outcomes: list[Outcome]) -> list[bool]:  # type: ignore[override]
        return []

    async def renew(self, worker_id: str, job_ids: object, lease_seconds: float) -> list[str]:
        return []

    async def recover_expired(self) -> Recovery:
        return Recovery()


class CoreOnlyTarget(Target):
    name = "coreonly"

    def make_driver(self, **options: object) -> Driver:
        return CoreOnly()


async def test_a_check_of_an_undeclared_capability_is_skipped_by_name() -> None:
    check = next(c for c in CHECKS if c.name == "purge_by_state_and_age")
    with pytest.raises(pytest.skip.Exception) as skipped:
        await check.run(CoreOnlyTarget())
    assert str(skipped.value) == "the coreonly driver does not declare Management, Inspection"
