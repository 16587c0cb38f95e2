"""The encoder's fast path for flat values (most jobs' arguments) measures exactly as
the general one: same depth, same bytes, same refusals, at every limit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynctasq.serialization import PayloadLimitError, Serializer
from asynctasq.serialization.limits import shallow_depth, value_depth
from asynctasq.serialization.payload import ENVELOPE_LEVELS, decode_payload, encode_payload
from tests.hypothesis_profiles import examples
from tests.unit.wire_reference import reference_depth, reference_pack

plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),  # beyond 64 bits too: an extension one level down
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
keys = st.one_of(st.text(max_size=4), st.integers(-(2**70), 2**70), st.booleans())
flat = st.one_of(st.lists(plain, max_size=5), st.dictionaries(keys, plain, max_size=5))
# shapes the fast path knows, and some it must hand over (a tuple, a set, a deeper list)
shapes = st.one_of(
    plain,
    flat,
    st.dictionaries(keys, st.one_of(plain, flat), max_size=5),
    st.dictionaries(keys, st.tuples(plain), max_size=3),
    st.lists(st.lists(flat, max_size=2), max_size=2),
)


@settings(max_examples=examples(400))
@given(shapes)
def test_shallow_depth_is_the_depth_or_nothing(value: Any) -> None:
    found = shallow_depth(value)
    if found is not None:
        assert found == value_depth(value, 0, 1000, {})
        # an int beyond 64 bits is an extension one level below where it sits
        assert found <= reference_depth(reference_pack(value)) <= found + 1


@settings(max_examples=examples(400))
@given(st.integers(1, 4), shapes)
def test_dumps_accepts_and_refuses_exactly_as_the_reference(limit: int, value: Any) -> None:
    serializer = Serializer(max_depth=limit)
    forged = reference_pack(value, serializer)
    if reference_depth(forged) <= limit:
        assert serializer.dumps(value) == forged
    else:
        with pytest.raises(PayloadLimitError):
            serializer.dumps(value)


@settings(max_examples=examples(200))
@given(st.dictionaries(st.text(min_size=1, max_size=6), plain, max_size=6))
def test_flat_arguments_round_trip_through_the_fast_path(args: dict[str, Any]) -> None:
    envelope = {"args": args}
    assert shallow_depth(envelope) == ENVELOPE_LEVELS
    assert decode_payload(encode_payload(args, {"retry_delay": 1.5}))[0] == args


def test_the_size_limit_holds_on_the_fast_path() -> None:
    serializer = Serializer(max_size=100)
    assert shallow_depth({"args": {"blob": b"x" * 200}}) == 2
    with pytest.raises(PayloadLimitError, match="over the limit of 100"):
        encode_payload({"blob": b"x" * 200}, serializer=serializer)


def test_a_big_int_at_the_very_limit_is_refused_on_the_fast_path() -> None:
    """[2**64] is a list holding an extension: 2 levels, over a limit of 1."""
    serializer = Serializer(max_depth=1)
    assert shallow_depth([2**64]) == 1
    with pytest.raises(PayloadLimitError):
        serializer.dumps([2**64])
    assert serializer.dumps([2**63 - 1])
