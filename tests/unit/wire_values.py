"""Values for the wire-format property tests: Hypothesis strategies covering every
built-in hook type, and ``same``, an exact comparison (same types all the way down,
same float bits, same Decimal digits, same zone and fold, same Enum member)."""

from __future__ import annotations

import datetime as dt
import enum
import math
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from asynctasq.serialization.orm.references import DjangoRef, SQLAlchemyRef, TortoiseRef

__all__ = [
    "Color",
    "Flags",
    "Level",
    "Mode",
    "enums",
    "hashables",
    "model_refs",
    "same",
    "scalars",
    "values",
]


class Color(enum.Enum):
    RED = "red"
    GREEN = (1, 2)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"


class Flags(enum.Flag):
    A = 1
    B = 2


# -- strategies ------------------------------------------------------------------------

fixed_offsets = st.builds(
    dt.timezone,
    st.timedeltas(
        min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
    ),
)
named_offsets = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-12), max_value=dt.timedelta(hours=12)),
    st.text(min_size=1, max_size=8),
)
zones = st.one_of(st.none(), st.just(dt.UTC), fixed_offsets, named_offsets, st.timezones())
datetimes = st.builds(
    lambda d, fold: d.replace(fold=fold), st.datetimes(timezones=zones), st.sampled_from([0, 1])
)
times = st.builds(
    lambda t, fold: t.replace(fold=fold),
    st.times(timezones=st.one_of(st.none(), st.just(dt.UTC), fixed_offsets, named_offsets)),
    st.sampled_from([0, 1]),
)
enums = st.sampled_from([*Color, *Level, *Mode, Flags.A, Flags.A | Flags.B])
keys = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(max_size=20),
    st.uuids(),
    st.tuples(st.integers(min_value=0), st.text(max_size=5)),
)
model_refs = st.builds(
    lambda cls, model, pk: cls(model, pk),
    st.sampled_from([SQLAlchemyRef, DjangoRef, TortoiseRef]),
    st.text(min_size=1, max_size=30),
    keys,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(),
    datetimes,
    st.dates(),
    times,
    st.timedeltas(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.uuids(),
    enums,
    model_refs,
)
hashables = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=10),
        st.binary(max_size=10),
        st.dates(),
        st.uuids(),
        enums,
        model_refs,
    ),
    lambda inner: st.one_of(st.tuples(inner, inner), st.frozensets(inner, max_size=3)),
    max_leaves=6,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(hashables, inner, max_size=5),
        st.sets(hashables, max_size=5),
        st.frozensets(hashables, max_size=5),
    ),
    max_leaves=25,
)


# -- exact comparison ------------------------------------------------------------------


def same_zone(a: dt.tzinfo | None, b: dt.tzinfo | None, ref: Any) -> bool:
    if a is None or b is None:
        return a is b
    return (
        type(a) is type(b)
        and getattr(a, "key", None) == getattr(b, "key", None)
        and a.utcoffset(ref) == b.utcoffset(ref)
        and a.tzname(ref) == b.tzname(ref)
    )


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, dt.datetime):
        naive = a.replace(tzinfo=None) == b.replace(tzinfo=None)
        return naive and a.fold == b.fold and same_zone(a.tzinfo, b.tzinfo, a)
    if isinstance(a, dt.time):
        naive = a.replace(tzinfo=None) == b.replace(tzinfo=None)
        return naive and a.fold == b.fold and same_zone(a.tzinfo, b.tzinfo, None)
    if isinstance(a, enum.Enum):
        return a is b
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, set | frozenset):
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    return bool(a == b)
