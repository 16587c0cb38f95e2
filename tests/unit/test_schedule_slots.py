"""Slot arithmetic of a schedule: interval slots on the epoch grid, cron in a time
zone through daylight-saving changes (docs/scheduling.md states these), and the
missed-slot policies."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from asynctasq.schedules import Missed, Schedule

PARIS = ZoneInfo("Europe/Paris")


def _cron(expression: str, **fields: object) -> Schedule:
    return Schedule(id="s", task="t", payload=b"", cron=expression, **fields)  # type: ignore[arg-type]


def _utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()  # type: ignore[misc]


def test_interval_slots_are_multiples_of_the_interval_since_the_epoch() -> None:
    every = Schedule(id="s", task="t", payload=b"", every=30)
    assert every.slot_after(1_000_000_010.5) == 1_000_000_020.0
    assert every.slot_after(1_000_000_020.0) == 1_000_000_050.0


def test_spring_forward_fires_the_missing_local_time_at_the_first_valid_one() -> None:
    nightly = _cron("30 2 * * *", timezone="Europe/Paris")
    slot = nightly.slot_after(_utc(2026, 3, 28, 12))
    assert dt.datetime.fromtimestamp(slot, PARIS).strftime("%H:%M %z") == "03:00 +0200"


def test_fall_back_fires_the_repeated_local_time_twice() -> None:
    nightly = _cron("30 2 * * *", timezone="Europe/Paris")
    first = nightly.slot_after(_utc(2026, 10, 24, 12))
    second = nightly.slot_after(first)
    assert (first, second) == (_utc(2026, 10, 25, 0, 30), _utc(2026, 10, 25, 1, 30))


@pytest.mark.parametrize(
    ("missed", "late", "fired"),
    [
        (Missed.SKIP, 30.0, [3]),  # within grace: the latest slot
        (Missed.SKIP, 90.0, []),  # too late: nothing
        (Missed.RUN_ONCE, 90.0, [3]),
        (Missed.RUN_ALL, 90.0, [1, 2, 3]),
    ],
)
def test_missed_slot_policies(missed: Missed, late: float, fired: list[int]) -> None:
    hourly = _cron("0 * * * *", missed=missed, next_at=3600.0)
    now = 3 * 3600.0 + late
    assert hourly.due_slots(now) == [hour * 3600.0 for hour in fired]


def test_run_all_fires_at_most_catch_up_slots_the_most_recent() -> None:
    hourly = _cron("0 * * * *", missed=Missed.RUN_ALL, catch_up=2, next_at=3600.0)
    assert hourly.due_slots(5 * 3600.0) == [4 * 3600.0, 5 * 3600.0]


def test_a_paused_or_not_yet_due_schedule_fires_nothing() -> None:
    assert _cron("0 * * * *", next_at=3600.0, paused=True).due_slots(7200.0) == []
    assert _cron("0 * * * *", next_at=3600.0).due_slots(3599.0) == []


def test_a_schedule_id_takes_any_task_name() -> None:
    local = "app.jobs.make.<locals>.Nightly"  # a task named after a local class
    assert Schedule(id=local, task=local, payload=b"", every=60).id == local
    with pytest.raises(ValueError, match="invalid schedule name"):
        Schedule(id="{tag}", task="t", payload=b"", every=60)
