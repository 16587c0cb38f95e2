"""The conformance suite: what every driver, ours or yours, must pass.

- the **contract** (``contract.CHECKS``): one check per promise of the driver core
  and of each capability; a check whose capability a driver does not declare is
  skipped with a reason naming the driver and the capability;
- the **lifecycle model test** (``run_lifecycle_model``): a Hypothesis state machine
  that drives random operations against your driver and the in-memory reference side
  by side and compares everything it can observe after each step, checking every
  transition it sees against ``asynctasq.lifecycle.TRANSITIONS``.

A driver author writes a :class:`Target` (drivers sharing one isolated namespace)
and subclasses :class:`DriverConformance`; ``docs/drivers/custom.md`` walks through
it. Needs pytest and Hypothesis (``pip install "asynctasq[conformance]"``).
"""

from __future__ import annotations

from asynctasq.testing.conformance.contract import CHECKS, Check
from asynctasq.testing.conformance.divergences import KNOWN_DIVERGENCES, Divergence
from asynctasq.testing.conformance.model import ModelReport, run_lifecycle_model
from asynctasq.testing.conformance.suite import DriverConformance, run_check
from asynctasq.testing.conformance.target import Target

__all__ = [
    "CHECKS",
    "KNOWN_DIVERGENCES",
    "Check",
    "Divergence",
    "DriverConformance",
    "ModelReport",
    "Target",
    "run_check",
    "run_lifecycle_model",
]
