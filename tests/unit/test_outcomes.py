"""The worker's quick way to build a Completed outcome builds exactly what the
dataclass's constructor builds: same type, fields, equality, hash, still frozen."""

from __future__ import annotations

import dataclasses

import pytest

from asynctasq.jobs import Completed, new_completed


@pytest.mark.parametrize("result", [None, b"\x01\x02"])
def test_new_completed_is_the_constructors_outcome(result: bytes | None) -> None:
    quick = new_completed("job-1", "worker-1", 3, "emails", result)
    built = Completed("job-1", "worker-1", 3, queue="emails", result=result)
    assert type(quick) is Completed
    assert dataclasses.astuple(quick) == dataclasses.astuple(built)
    assert quick == built
    assert hash(quick) == hash(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.attempt = 4  # type: ignore[misc]
