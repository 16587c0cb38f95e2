"""Property tests of the wire format's limits (Hypothesis; HYPOTHESIS_PROFILE=deep for
the long run): the encoder accepts exactly the values within the depth limit and
they decode to equal values; the decoder refuses the rest, and any byte string at
all either decodes or raises our own SerializationError family, in bounded time and
memory."""

from __future__ import annotations

import collections
import time
import tracemalloc
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynctasq.errors import UndecodablePayloadError
from asynctasq.serialization import (
    DecodeError,
    PayloadLimitError,
    SerializationError,
    Serializer,
    TypeHook,
    dumps,
)
from asynctasq.serialization.payload import decode_payload
from tests.hypothesis_profiles import examples
from tests.unit.wire_reference import reference_depth, reference_pack
from tests.unit.wire_values import same, scalars, values


class Box:
    """A user type whose hook encodes it as its content, whatever that is: the content
    of the extension may be a scalar, a container (sharing the level) or another
    extension (a level of its own)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and same(self.inner, other.inner)

    __hash__ = None  # type: ignore[assignment]


class BoxHook(TypeHook):
    code = 100
    types = (Box,)

    def encode(self, obj: Box) -> Any:
        return obj.inner

    def decode(self, data: Any) -> Box:
        return Box(data)


Pair = collections.namedtuple("Pair", "left right")


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def wrap(kind: str, inner: Any) -> Any:
    """``inner`` one level down, inside a container (or hooked value) of ``kind``."""
    if kind in ("set", "frozenset", "key") and not _hashable(inner):
        kind = "list"
    match kind:
        case "list":
            return [inner, 1]
        case "tuple":
            return (inner, "x")
        case "dict":
            return {"k": inner, "n": None}
        case "key":
            return {inner: 1}
        case "set":
            return {inner}
        case "frozenset":
            return frozenset({inner})
        case "box":
            return Box(inner)
        case _:
            return Pair(inner, 2)


def as_decoded(value: Any) -> Any:
    """What decoding gives back for ``value``: a named tuple travels as a tuple."""
    if isinstance(value, tuple):
        return tuple(as_decoded(v) for v in value)
    if isinstance(value, list):
        return [as_decoded(v) for v in value]
    if isinstance(value, dict):
        return {as_decoded(k): as_decoded(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return type(value)(as_decoded(v) for v in value)
    if isinstance(value, Box):
        return Box(as_decoded(value.inner))
    return value


KINDS = ["list", "tuple", "dict", "key", "set", "frozenset", "box", "namedtuple"]


@st.composite
def nested(draw: st.DrawFn, most: int) -> Any:
    value = draw(scalars)
    for kind in draw(st.lists(st.sampled_from(KINDS), max_size=most)):
        value = wrap(kind, value)
    return value


def boxed_serializer(max_depth: int) -> Serializer:
    serializer = Serializer(max_depth=max_depth)
    serializer.register(BoxHook())
    return serializer


# -- the encoder accepts exactly what is within the limit; the decoder agrees ----------


@settings(max_examples=examples(300))
@given(st.integers(1, 8), st.data())
def test_the_limit_is_the_same_on_both_sides_and_what_passes_round_trips(
    limit: int, data: st.DataObject
) -> None:
    serializer = boxed_serializer(limit)
    value = data.draw(nested(limit + 3))
    forged = reference_pack(value, serializer)  # what any producer could store
    depth = reference_depth(forged)
    if depth <= limit:
        encoded = serializer.dumps(value)
        assert encoded == forged
        assert same(serializer.loads(encoded), as_decoded(value))
    else:
        with pytest.raises(PayloadLimitError, match=f"more than {limit} levels"):
            serializer.dumps(value)
        with pytest.raises(DecodeError, match=f"more than {limit} levels"):
            serializer.loads(forged)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("leaf", [1, 2**70, "x", Box(None)], ids=["int", "bigint", "str", "box"])
def test_at_the_default_limit_of_64_one_level_more_is_refused(kind: str, leaf: Any) -> None:
    serializer = boxed_serializer(64)
    value = leaf
    while reference_depth(reference_pack(value, serializer)) < 64:
        value = wrap(kind, value)
    assert reference_depth(reference_pack(value, serializer)) == 64
    assert same(serializer.loads(serializer.dumps(value)), as_decoded(value))
    deeper = wrap(kind, value)
    with pytest.raises(PayloadLimitError) as refused:
        serializer.dumps(deeper)
    assert (refused.value.limit, refused.value.setting) == (64, "max_payload_depth")
    assert "ASYNCTASQ_MAX_PAYLOAD_DEPTH" in str(refused.value)
    with pytest.raises(DecodeError, match="more than 64 levels deep"):
        serializer.loads(reference_pack(deeper, serializer))


def test_a_value_that_contains_itself_is_refused_clearly() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(PayloadLimitError, match="levels deep"):
        dumps(loop)


@pytest.mark.parametrize("raw", [msgpack.ExtType(9, b"\x90"), msgpack.Timestamp(0)])
def test_raw_msgpack_extensions_are_refused_at_encoding(raw: Any) -> None:
    # packed as they are, the worker would read them as something else, or not at all
    with pytest.raises(SerializationError, match="TypeHook"):
        dumps({"x": [raw]})


# -- the size limit ----------------------------------------------------------------------


def test_the_size_limit_holds_both_ways() -> None:
    serializer = Serializer(max_size=1024)
    assert serializer.loads(serializer.dumps(b"x" * 1000)) == b"x" * 1000
    with pytest.raises(PayloadLimitError, match=r"1027 bytes, over the limit of 1024") as big:
        serializer.dumps(b"x" * 1024)
    assert "ASYNCTASQ_MAX_PAYLOAD_SIZE" in str(big.value)
    assert big.value.setting == "max_payload_size"
    with pytest.raises(DecodeError, match="over the limit of 1024"):
        serializer.loads(dumps(b"x" * 1024))


def test_limits_are_checked_when_a_serializer_is_made() -> None:
    for bad in ({"max_depth": 0}, {"max_depth": 129}, {"max_size": 0}, {"max_depth": 1.5}):
        with pytest.raises(ValueError, match="is not valid"):
            Serializer(**bad)  # type: ignore[arg-type]


def test_a_copy_with_other_limits_shares_the_hooks_registered_later() -> None:
    base = Serializer()
    strict = base.with_limits(max_depth=2)
    base.register(BoxHook())
    assert strict.loads(strict.dumps(Box(1))) == Box(1)
    with pytest.raises(PayloadLimitError):
        strict.dumps([[Box(1)]])


# -- the decoder: anything in, a value or our error out ----------------------------------


def raised_by(call: Any, data: bytes) -> BaseException | None:
    try:
        call(data)
    except Exception as exc:  # anything at all: the assertions say which are allowed
        return exc
    return None


def decodes_or_refuses(data: bytes, serializer: Serializer | None = None) -> None:
    """Our own errors only, never a crash or another exception type."""
    refused = raised_by((serializer or boxed_serializer(64)).loads, data)
    assert refused is None or type(refused) is DecodeError, repr(refused)
    poison = raised_by(decode_payload, data)
    assert poison is None or type(poison) is UndecodablePayloadError, repr(poison)
    assert isinstance(poison or DecodeError(), SerializationError)


@settings(max_examples=examples(400))
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_a_decode_error(data: bytes) -> None:
    decodes_or_refuses(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid encoding, then damaged: bytes flipped, cut, repeated, inserted."""
    data = bytearray(reference_pack(draw(values)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, max(len(data) - 1, 0)))
        match draw(st.sampled_from(["flip", "cut", "repeat", "insert"])):
            case "flip" if data:
                data[where] = draw(st.integers(0, 255))
            case "cut":
                del data[where:]
            case "repeat":
                data[where:where] = data[where : where + draw(st.integers(1, 8))]
            case _:
                data[where:where] = draw(st.binary(min_size=1, max_size=6))
    return bytes(data)


@settings(max_examples=examples(250))
@given(mutated())
def test_damaged_encodings_decode_or_raise_a_decode_error(data: bytes) -> None:
    decodes_or_refuses(data)


envelopes = st.one_of(
    st.dictionaries(st.sampled_from(["args", "options", "x"]), values, max_size=3),
    st.builds(lambda args, options: {"args": args, "options": options}, values, values),
    st.builds(
        lambda args: {"args": args},
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), values, max_size=3),
    ),
    values,
)


@settings(max_examples=examples(150))
@given(envelopes)
def test_the_payload_envelope_decoder_returns_dicts_or_dead_letters(envelope: Any) -> None:
    data = reference_pack(envelope)
    try:
        args, options = decode_payload(data)
    except UndecodablePayloadError:
        return
    assert isinstance(args, dict) and all(isinstance(k, str) for k in args)
    assert isinstance(options, dict)


# -- bounded memory and time -----------------------------------------------------------

HUGE = b"\xff\xff\xff\xff"
ADVERSARIAL = {
    "array32 of 4G values": b"\xdd" + HUGE,
    "map32 of 4G pairs": b"\xdf" + HUGE,
    "bin32 of 4 GB": b"\xc6" + HUGE,
    "str32 of 4 GB": b"\xdb" + HUGE,
    "ext32 of 4 GB": b"\xc9" + HUGE + b"\x09",
    "deep, then huge": b"\x91" * 60 + b"\xdd" + HUGE,
    "a tuple holding a huge array": b"\xc7\x05\x09\xdd" + HUGE,
    "an envelope holding a huge map": b"\x81\xa4args\x81\xa1x\xdf" + HUGE,
    "ten thousand nested tuples": b"\xc7\x00\x09" * 10_000,
    "a million nested arrays": b"\x91" * 1_000_000 + b"\x01",
}


def peak_bytes_decoding(data: bytes) -> int:
    decodes_or_refuses(data)  # once before: imports and caches (time zones) are not its cost
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        decodes_or_refuses(data)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("data", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_tiny_headers_claiming_gigabytes_cost_no_memory_and_no_time(data: bytes) -> None:
    started = time.monotonic()
    peak = peak_bytes_decoding(data)
    assert time.monotonic() - started < 5
    assert peak < 2 * len(data) + 256 * 1024, f"{peak} bytes to refuse {len(data)} bytes"


@settings(max_examples=examples(60))
@given(st.one_of(st.binary(max_size=4000), mutated()))
def test_decoding_takes_memory_in_proportion_to_the_input(data: bytes) -> None:
    # the worst case is ~72x: a one-byte empty map becomes a dict (64 bytes) in a list;
    # and an extension nested beyond the third level holds a 40 kB parse stack while it
    # is decoded (it takes 3 bytes at least; 64 levels at most)
    ext_stacks = 48 * 1024 * min(len(data) // 3, 64)
    assert peak_bytes_decoding(data) < 100 * len(data) + 256 * 1024 + ext_stacks
