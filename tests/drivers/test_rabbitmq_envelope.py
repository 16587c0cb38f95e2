"""The RabbitMQ driver's pure parts: the message envelope, delay arithmetic, bands."""

from __future__ import annotations

import time

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asynctasq.drivers.rabbitmq.envelope import BadEnvelope, decode, encode
from asynctasq.drivers.rabbitmq.topology import (
    DELAY_LEVELS,
    DELAY_UNIT,
    Topology,
    bit_headers,
    delay_bits,
)
from asynctasq.jobs import Job, JobState, new_job_id


def test_the_envelope_keeps_every_field() -> None:
    now = time.time()
    job = Job(
        task="app.tasks.SendEmail",
        payload=bytes(range(256)),
        queue="emails",
        priority=-5,
        max_attempts=7,
        run_at=now + 10,
        created_at=now,
        timeout=12.5,
        unique_key="welcome:42",
        depends_on=(new_job_id(),),
        expires_at=now + 3600,
        error="ValueError: boom",
        finished_at=now + 1,
    )
    got, attempts = decode(encode(job, 3))
    assert attempts == 3 and got.attempts == 3
    for field in (
        "id", "task", "queue", "payload", "priority", "max_attempts", "run_at",
        "created_at", "timeout", "unique_key", "depends_on", "expires_at", "error",
        "finished_at",
    ):  # fmt: skip
        assert getattr(got, field) == getattr(job, field), field
    assert got.state is JobState.PENDING and got.worker_id is None
    assert decode(encode(job, 0, error="later"))[0].error == "later"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xc1", "not msgpack"),
        (msgpack.packb({"id": "x"}), "not an asynctasq job envelope"),
        (msgpack.packb([2] + [None] * 15), "not an asynctasq job envelope"),
        (msgpack.packb([1, 5, "t", "q", b"", 0, 0, 1, 0.0, 0.0, None, None, [], None, None, None]),
         "id has the wrong type"),
        (msgpack.packb([1, "i", "t", "q", "text", 0, 0, 1, 0.0, 0.0, None, None, [], None,
                        None, None]), "payload has the wrong type"),
        (msgpack.packb([1, "i", "t", "q", b"", True, 0, 1, 0.0, 0.0, None, None, [], None,
                        None, None]), "priority is not an integer"),
        (msgpack.packb([1, "i", "t", "q", b"", 0, 0, 1, "soon", 0.0, None, None, [], None,
                        None, None]), "run_at has the wrong type"),
        (msgpack.packb([1, "i", "t", "q", b"", 0, 0, 1, 0.0, 0.0, None, None, [7], None,
                        None, None]), "depends_on is not a list of ids"),
        (msgpack.packb([1, "i", "t", "q", b"", 0, 0, 1, float("nan"), 0.0, None, None, [],
                        None, None, None]), "invalid job: .*run_at"),
    ],
)  # fmt: skip
def test_a_body_that_is_no_job_is_refused_with_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(BadEnvelope, match=reason):
        decode(body)


@given(st.floats(min_value=0.0, max_value=30 * 86400.0))
def test_a_delay_is_rounded_up_and_its_bits_sum_to_it(seconds: float) -> None:
    units = delay_bits(seconds)
    assert units * DELAY_UNIT >= seconds - 1e-9  # never early
    assert units * DELAY_UNIT < seconds + DELAY_UNIT + 1e-9
    headers = bit_headers(units)
    assert sum(bit << int(k.removeprefix("atq-d")) for k, bit in headers.items()) == units
    assert len(headers) == units.bit_length() <= DELAY_LEVELS


def test_a_delay_longer_than_one_trip_is_capped() -> None:
    assert delay_bits(10**9) == (1 << DELAY_LEVELS) - 1
    assert delay_bits(-5) == 0


def test_priority_bands() -> None:
    default = Topology("p")
    assert [default.band(p) for p in (-100, -1, 0, 1, 100)] == [0, 0, 1, 2, 2]
    assert default.band_queues("emails") == ["p.emails.p0", "p.emails.p1", "p.emails.p2"]
    custom = Topology("p", (-10, 0, 1, 10))
    assert [custom.band(p) for p in (-11, -10, -1, 0, 5, 10)] == [0, 1, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="increasing"):
        Topology("p", (1, 0))
