"""The shipped conformance suite (``asynctasq.testing.conformance``) on every broker
of tests/backends.py: each contract check on each backend, skipped by name where the
driver does not declare a capability the check needs."""

from __future__ import annotations

import pytest

from asynctasq.testing.conformance import CHECKS, Check
from tests.backends import Backend


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.name)
async def test_contract(backend: Backend, check: Check) -> None:
    await check.run(backend)
