"""Damage any broker's payload bytes can hold, shared by the corruptor modules: each
is a new payload made from the victim's own, and the fragment the dead-letter reason
must contain (the worker finds these faults when it decodes the job)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from asynctasq.jobs import Job
from asynctasq.serialization import dumps
from asynctasq.serialization.payload import encode_payload

__all__ = ["DAMAGED_PAYLOADS", "UNKNOWN_TASK", "DamagedPayload"]

#: a task name no worker registers
UNKNOWN_TASK = "hostile.never.Registered"


class DamagedPayload(NamedTuple):
    name: str
    damage: Callable[[Job], bytes]
    reason: str


DAMAGED_PAYLOADS = [
    DamagedPayload("payload garbage bytes", lambda job: b"\xc1\xff\x00garbage", "undecodable"),
    DamagedPayload(
        "payload truncated", lambda job: job.payload[: len(job.payload) // 2], "undecodable"
    ),
    DamagedPayload("payload empty", lambda job: b"", "undecodable"),
    DamagedPayload("payload of NUL bytes", lambda job: b"\x00" * 64, "undecodable"),
    # a few MB: a row or record far larger than any the drivers write
    DamagedPayload("payload of 4 MB", lambda job: b"\xc1" * (4 << 20), "undecodable"),
    DamagedPayload("payload not a job envelope", lambda job: dumps([1, 2, 3]), "undecodable"),
    DamagedPayload(
        "payload with arguments the task lacks",
        lambda job: encode_payload({"no_such_argument": 1}),
        "arguments no longer match",
    ),
]
