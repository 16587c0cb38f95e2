"""A schedule: a job template, when it fires (``cron`` or ``every``), and where it is.

Schedules live in the broker (the ``Schedules`` capability), so every worker and
every scheduler sees the same set. ``next_at`` is the next slot to fire (epoch
seconds): firing a slot moves it on with a compare-and-set, and the job of a slot
has an id derived from (schedule id, slot), so a slot enqueues one job however many
schedulers race for it (see ``scheduler.py``).

Cron arithmetic is croniter's, in the schedule's ``timezone``; daylight-saving
transitions behave as croniter defines them (docs/scheduling.md says how).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import math
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from asynctasq.checks import check_attempts, check_priority, check_seconds
from asynctasq.jobs import Job, validate_name


def _croniter() -> Any:
    """croniter, imported on first use: about 40 ms of a worker's start-up that only
    cron schedules need."""
    from croniter import croniter

    return croniter


def valid_cron(expression: str) -> bool:
    return bool(_croniter().is_valid(expression))


__all__ = ["DEFAULT_CATCH_UP", "DEFAULT_GRACE", "Missed", "Schedule", "slot_job_id"]

#: seconds late a slot may fire under the ``skip`` policy (later: skipped)
DEFAULT_GRACE = 60.0
#: missed slots ``run_all`` fires at most (the most recent ones)
DEFAULT_CATCH_UP = 100

_SLOT_IDS = uuid.UUID("6f1c3f52-5a0e-4d8e-9b57-2d7c1f0e8a41")  # namespace of slot job ids


def _zone(name: str) -> dt.tzinfo:
    """The time zone ``name``; zoneinfo is imported by the first schedule that needs
    it, not by every worker's start-up (docs/benchmarks.md, "Start-up")."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class Missed(StrEnum):
    """What a schedule does with the slots that passed while nothing ran."""

    SKIP = "skip"  # fire the latest slot if at most ``grace`` late, drop the others
    RUN_ONCE = "run_once"  # fire the latest slot, however late (one job for the gap)
    RUN_ALL = "run_all"  # fire every missed slot, oldest first (up to ``catch_up``)


@dataclass(slots=True)
class Schedule:
    """A repeatable or cron schedule: the job it enqueues at each slot, and when."""

    id: str
    task: str
    payload: bytes
    queue: str = "default"
    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    missed: Missed = Missed.SKIP
    grace: float = DEFAULT_GRACE
    catch_up: int = DEFAULT_CATCH_UP
    priority: int = 0
    max_attempts: int = 1
    timeout: float | None = None
    paused: bool = False
    #: the next slot to fire (epoch seconds); 0 until registered
    next_at: float = 0.0

    def __post_init__(self) -> None:
        validate_name("schedule", self.id)
        validate_name("queue", self.queue)
        if (self.cron is None) == (self.every is None):
            raise ValueError(f"schedule {self.id!r}: give cron= or every=, exactly one")
        if self.cron is not None and not valid_cron(self.cron):
            raise ValueError(f"schedule {self.id!r}: {self.cron!r} is not a cron expression")
        if self.every is not None:
            self.every = check_seconds("every", self.every, positive=True)
        _zone(self.timezone)  # raises for an unknown zone
        self.missed = Missed(self.missed)
        check_priority("priority", self.priority)
        check_attempts("max_attempts", self.max_attempts)
        check_attempts("catch_up", self.catch_up)

    # -- AsyncMQ's names for two fields (Queue.list_repeatables, docs/asyncmq-users.md)

    @property
    def task_id(self) -> str:
        """The task it fires (``task``), as AsyncMQ's repeatable entries name it."""
        return self.task

    @property
    def next_run_at(self) -> float:
        """Its next slot (``next_at``, epoch seconds), as AsyncMQ names it."""
        return self.next_at

    # -- slot arithmetic ---------------------------------------------------------------

    def slot_after(self, moment: float) -> float:
        """The first slot strictly after epoch ``moment``."""
        if self.every is not None:
            # multiples of the interval since the epoch: every scheduler that registers
            # the schedule, whenever, computes the same slots
            return (math.floor(moment / self.every) + 1) * self.every
        assert self.cron is not None
        start = dt.datetime.fromtimestamp(moment, _zone(self.timezone))
        return float(_croniter()(self.cron, start).get_next(float))

    def slot_before(self, moment: float) -> float:
        """The last slot strictly before epoch ``moment``."""
        if self.every is not None:
            return (math.ceil(moment / self.every) - 1) * self.every
        assert self.cron is not None
        start = dt.datetime.fromtimestamp(moment, _zone(self.timezone))
        return float(_croniter()(self.cron, start).get_prev(float))

    def latest_slot(self, now: float) -> float:
        """The last slot at or before ``now`` (computed, not walked: an outage of a
        day costs an every-second schedule no more than one of a minute)."""
        before = self.slot_before(now)
        after = self.slot_after(before)
        return after if after <= now else before

    def due_slots(self, now: float) -> list[float]:
        """The slots to fire at ``now`` under this schedule's missed-slot policy."""
        if self.paused or self.next_at > now:
            return []
        latest = max(self.latest_slot(now), self.next_at)
        if self.missed is Missed.RUN_ALL:
            slots = [latest]
            while len(slots) < self.catch_up and slots[-1] > self.next_at:
                slots.append(max(self.slot_before(slots[-1]), self.next_at))
            return slots[::-1]
        if self.missed is Missed.SKIP and now - latest > self.grace:
            return []
        return [latest]

    def job_for(self, slot: float, now: float, *, job_id: str | None = None) -> Job:
        """The job of ``slot``: its id is the same for every scheduler that builds it."""
        return Job(
            id=job_id or slot_job_id(self.id, slot),
            task=self.task,
            payload=self.payload,
            queue=self.queue,
            priority=self.priority,
            max_attempts=self.max_attempts,
            timeout=self.timeout,
            run_at=now,
            created_at=now,
        )

    # -- storage: brokers keep the definition (fixed) apart from the state (next_at,
    # paused), so a compare-and-set touches one plain value and re-registering an
    # unchanged schedule is a string comparison

    def definition(self) -> str:
        data = dataclasses.asdict(self)
        for name in _STATE:
            del data[name]
        data["payload"] = base64.b64encode(self.payload).decode()
        data["missed"] = self.missed.value
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def stored(cls, definition: str | bytes, next_at: float, paused: bool) -> Schedule:
        data: dict[str, Any] = json.loads(definition)
        data["payload"] = base64.b64decode(data["payload"])
        return cls(**data, next_at=float(next_at), paused=bool(paused))


_STATE = ("next_at", "paused")


def slot_job_id(schedule_id: str, slot: float) -> str:
    """The id of the job that fires ``slot``: a UUID every scheduler derives alike,
    so a second enqueue of the slot finds the job stored and changes nothing."""
    return str(uuid.uuid5(_SLOT_IDS, f"{schedule_id}@{slot!r}"))
