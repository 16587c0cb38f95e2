"""``DriverConformance``: the whole suite for a third-party driver, as a pytest class.

    from asynctasq.testing.conformance import DriverConformance, Target

    class MyTarget(Target):
        name = "mybroker"
        def make_driver(self, **options):
            return MyDriver(url, prefix=self.prefix, **options)

    class TestMyBroker(DriverConformance):
        def make_target(self, tmp_path):
            return MyTarget()

pytest then runs every contract check (``test_contract[<check>]``) and the lifecycle
model test (``test_lifecycle_model``) against it. The tests are plain functions that
run their own event loop, so no asyncio plugin is needed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from asynctasq.testing.conformance.contract import CHECKS, Check
from asynctasq.testing.conformance.model import run_lifecycle_model
from asynctasq.testing.conformance.target import Target

__all__ = ["DriverConformance", "run_check"]


async def run_check(target: Target, check: Check) -> None:
    """Set ``target`` up, run one contract check on it, tear it down."""
    await target.setup()
    try:
        await check.run(target)
    finally:
        await target.teardown()


class DriverConformance:
    """Subclass (named ``Test...``) and define :meth:`make_target`."""

    #: Hypothesis examples of the lifecycle model test (each a short random run)
    model_examples: int = 200
    #: operations per example of the lifecycle model test
    model_steps: int = 20

    def make_target(self, tmp_path: Path) -> Target:
        """A new target: one fresh, isolated namespace on your broker."""
        raise NotImplementedError(f"{type(self).__name__} must define make_target(tmp_path)")

    @pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.name)
    def test_contract(self, check: Check, tmp_path: Path) -> None:
        asyncio.run(run_check(self.make_target(tmp_path), check))

    def test_lifecycle_model(self, tmp_path: Path) -> None:
        report = run_lifecycle_model(
            lambda: self.make_target(tmp_path),
            max_examples=self.model_examples,
            steps=self.model_steps,
        )
        print(report)
