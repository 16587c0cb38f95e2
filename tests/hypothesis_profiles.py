"""Hypothesis profiles: ``ci`` (the default, seconds in all) and ``deep`` (opt-in,
``HYPOTHESIS_PROFILE=deep``, what ``make test-deep`` runs: twenty times the examples).

A test that sets its own number of examples scales it with ``examples(n)``: ``n`` in
the ci profile, ``20 * n`` in the deep one.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["DEEP_FACTOR", "examples", "load_profile"]

DEEP_FACTOR = 20
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("ci", deadline=None, max_examples=100, suppress_health_check=_SLOW_OK)
settings.register_profile(
    "deep", deadline=None, max_examples=100 * DEEP_FACTOR, suppress_health_check=_SLOW_OK
)


def load_profile() -> str:
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    settings.load_profile(name)
    return name


def examples(n: int) -> int:
    """``n`` examples in the ci profile, scaled up in the deep one."""
    return n * DEEP_FACTOR if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else n
