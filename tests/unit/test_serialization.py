from __future__ import annotations

import datetime as dt
import enum
import sys
import uuid
import zoneinfo
from decimal import Decimal

import msgpack
import pytest

from asynctasq.errors import PoisonJobError
from asynctasq.serialization import (
    DecodeError,
    SerializationError,
    Serializer,
    TypeHook,
    dumps,
    loads,
)
from asynctasq.serialization.payload import decode_payload, encode_payload


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 1


VALUES = [
    dt.datetime(2026, 3, 29, 2, 30),
    dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30), "NST")),
    dt.date(1999, 12, 31),
    dt.time(23, 59, 59, 999999),
    dt.time(1, 2, tzinfo=dt.timezone(dt.timedelta(hours=5))),
    dt.timedelta(days=-1, seconds=5, microseconds=7),
    Decimal("3.1400"),
    Decimal("-Infinity"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    {1, 2, 3},
    frozenset({"a"}),
    (1, (2, 3), []),
    b"\x00\xff",
    Color.RED,
    Level.HIGH,
    2**80,
    -(2**90),
    True,
    None,
    {"nested": [{"k": (dt.date(2020, 1, 1),)}], (1, 2): "tuple key"},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_values_round_trip_exactly(value: object) -> None:
    back = loads(dumps(value))
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, dt.datetime | dt.time):
        assert back.tzinfo == value.tzinfo  # type: ignore[union-attr]
        assert back.fold == value.fold  # type: ignore[union-attr]


def test_unknown_types_fail_with_advice() -> None:
    with pytest.raises(SerializationError, match="register a TypeHook"):
        dumps({"x": object()})


def test_garbage_is_a_decode_error() -> None:
    for junk in (b"\xc1", b"\x92\x01", msgpack.packb(msgpack.ExtType(99, b"x"))):
        with pytest.raises(DecodeError):
            loads(junk)


def test_an_enum_is_rebuilt_only_from_loaded_classes() -> None:
    forged = dumps(Color.RED).replace(__name__.encode(), b"nosuch_mod_zz")
    with pytest.raises(DecodeError):
        loads(forged)
    assert "nosuch_mod_zz" not in sys.modules


def test_own_types_through_a_hook() -> None:
    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    class PointHook(TypeHook):
        code = 64
        types = (Point,)

        def encode(self, obj: Point) -> object:
            return [obj.x, obj.y]

        def decode(self, data: list[int]) -> Point:
            return Point(*data)

    serializer = Serializer()
    serializer.register(PointHook())
    back = serializer.loads(serializer.dumps([Point(1, 2)]))
    assert (back[0].x, back[0].y) == (1, 2)

    class Clash(TypeHook):
        code = 1
        types = (Point,)

    with pytest.raises(ValueError, match="taken"):
        serializer.register(Clash())


def test_payload_envelope_and_poison() -> None:
    data = encode_payload({"to": "a@b.c"}, {"retry_delay": 5.0})
    assert decode_payload(data) == ({"to": "a@b.c"}, {"retry_delay": 5.0})
    for bad in (b"\xc1", dumps([1, 2]), dumps({"args": {1: 2}}), dumps({"nope": 1})):
        with pytest.raises(PoisonJobError):
            decode_payload(bad)


def test_pickle_is_never_used() -> None:
    import asynctasq.serialization.msgpack as module

    assert "pickle" not in open(module.__file__).read()  # noqa: SIM115
