"""Property tests: every supported value round-trips exactly; garbage never crashes.

"Exactly" means same types all the way down, same float bits (NaN, -0.0), same
Decimal digits and exponent, same time zone and fold, same Enum member.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynctasq.errors import PoisonJobError
from asynctasq.serialization import DecodeError, dumps, loads
from asynctasq.serialization.orm.references import SQLAlchemyRef
from asynctasq.serialization.payload import decode_payload, encode_payload
from asynctasq.serialization.resolve import has_references
from tests.hypothesis_profiles import examples
from tests.unit.wire_values import model_refs, same, values

FAST = settings(
    deadline=None, max_examples=examples(250), suppress_health_check=[HealthCheck.too_slow]
)


# -- properties ------------------------------------------------------------------------


@FAST
@given(values)
def test_every_supported_value_round_trips_exactly(value: Any) -> None:
    assert same(loads(dumps(value)), value)


@settings(FAST, max_examples=examples(80))  # each example is a whole payload: several values
@given(st.dictionaries(st.text(max_size=10), values, max_size=3))
def test_job_arguments_round_trip_through_the_payload(args: dict[str, Any]) -> None:
    back, options = decode_payload(encode_payload(args, {"retry_delay": 1.5}))
    assert same(back, args)
    assert options == {"retry_delay": 1.5}


@FAST
@given(model_refs)
def test_a_reference_re_encodes_to_the_same_bytes(ref: Any) -> None:
    data = dumps(ref)
    assert dumps(loads(data)) == data
    assert has_references({"x": [loads(data)]})


@FAST
@given(st.binary(max_size=200))
def test_random_bytes_give_a_clear_error_never_another_exception(data: bytes) -> None:
    try:
        loads(data)
    except DecodeError:
        pass
    try:
        decode_payload(data)  # what the worker calls: a poison job, dead-lettered
    except PoisonJobError:
        pass


ext_payloads = st.recursive(
    st.one_of(
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.text(max_size=10),
        st.binary(max_size=10),
        st.none(),
        st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=30)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.builds(
            msgpack.ExtType,
            st.integers(0, 40),  # built-in and ORM codes, over plausible inner data
            st.lists(inner, max_size=4).map(lambda v: msgpack.packb(v, use_bin_type=True)),
        ),
    ),
    max_leaves=10,
)


@FAST
@given(ext_payloads)
def test_forged_extension_types_decode_cleanly_or_fail_with_decode_error(forged: Any) -> None:
    data = msgpack.packb({"args": {"x": forged}}, use_bin_type=True)
    try:
        loads(data)
    except DecodeError:
        pass
    try:
        decode_payload(data)
    except PoisonJobError:
        pass


@pytest.mark.parametrize("depth", [900, 5000])
def test_deep_nesting_is_poison_not_a_crash(depth: int) -> None:
    data = b"\x81\xa4args\x81\xa1x" + b"\x91" * depth + b"\x01"
    try:
        args, _ = decode_payload(data)
    except PoisonJobError:
        return
    try:
        has_references(args)
    except PoisonJobError:
        return


def test_special_values_round_trip() -> None:
    for value in (
        float("nan"),
        -0.0,
        Decimal("sNaN"),
        Decimal("-0.00"),
        2**64,
        -(2**63) - 1,
        dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=dt.timezone(dt.timedelta(hours=1), "X")),
        uuid.UUID(int=0),
        SQLAlchemyRef("app.models:Pair", (1, "a")),
    ):
        assert same(loads(dumps(value)), value), value


def test_a_bytearray_arrives_as_bytes() -> None:
    # msgpack packs bytearray natively as bin, before any hook is asked (so hook 11
    # never runs): the content survives, the mutable type does not
    assert loads(dumps(bytearray(b"ab"))) == b"ab"
