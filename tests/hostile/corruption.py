"""The corrupt-at-rest harness: what every broker's corruptor module provides.

Each broker has ``tests/hostile/corrupt_<backend name>.py`` defining ``CORRUPTIONS``, a
list of :class:`Corruption`. A corruption damages one stored job record *in place*, the
way a buggy tool, a bad migration or a hostile writer could, using only what that
broker's storage allows (a column type the schema forbids is not a corruption the
broker can meet). The harness (``test_corrupt_at_rest.py``) applies each corruption to
a few waiting jobs while three workers drain good jobs, then checks that every good job
completed, every corrupt job ended dead-lettered with a reason naming the fault, and no
worker died.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asynctasq.jobs import Job
from tests.backend_base import Backend

__all__ = ["Corruption", "corruptions_for"]


@dataclass(frozen=True)
class Corruption:
    #: a short name for reports ("payload garbage bytes", "missing task field")
    name: str
    #: damages the stored record of ``job`` (a waiting job, not yet claimed)
    apply: Callable[[Backend, Job], Awaitable[None]]
    #: a fragment the dead-letter reason (the job's ``error``) must contain, case-insensitive
    reason: str


def corruptions_for(backend: Backend) -> list[Corruption]:
    """The broker's corruptions; a broker without a corruptor module fails the test
    (every broker is held to this standard, none is skipped)."""
    module_name = f"tests.hostile.corrupt_{backend.name.replace('-', '_')}"
    if importlib.util.find_spec(module_name) is None:
        raise AssertionError(
            f"no corruptor for the {backend.name} broker: write {module_name.replace('.', '/')}.py"
        )
    found: list[Corruption] = importlib.import_module(module_name).CORRUPTIONS
    assert found, f"{module_name}.CORRUPTIONS is empty"
    return found
