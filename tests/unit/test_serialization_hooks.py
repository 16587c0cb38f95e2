"""Users' own hooks: claims() for families of classes, precedence, nesting."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynctasq.serialization import DecodeError, SerializationError, Serializer, TypeHook


@dataclasses.dataclass
class Address:
    street: str
    since: dt.date


@dataclasses.dataclass
class Price:
    amount: Decimal
    tags: frozenset[str]


@dataclasses.dataclass
class Unlisted:
    x: int


ALLOWED = {"Address": Address, "Price": Price}


class DataclassHook(TypeHook):
    code = 65
    types = ()

    def claims(self, cls: type) -> bool:
        return cls in ALLOWED.values()

    def encode(self, obj: Any) -> Any:
        return [type(obj).__name__, dataclasses.asdict(obj)]

    def decode(self, data: Any) -> Any:
        name, fields = data
        return ALLOWED[name](**fields)  # KeyError on a forged name: a DecodeError


class PriceHook(TypeHook):
    """Claims Price by type: a types match wins over another hook's claims()."""

    code = 66
    types = (Price,)

    def encode(self, obj: Price) -> Any:
        return [obj.amount, obj.tags]

    def decode(self, data: Any) -> Price:
        return Price(*data)


@pytest.fixture
def serializer() -> Serializer:
    serializer = Serializer()
    serializer.register(DataclassHook())
    return serializer


@settings(deadline=None, max_examples=100)
@given(
    st.lists(
        st.one_of(
            st.builds(Address, st.text(), st.dates()),
            st.builds(Price, st.decimals(allow_nan=False), st.frozensets(st.text(max_size=5))),
        ),
        max_size=5,
    )
)
def test_a_claimed_family_round_trips_with_hooked_values_inside(values: list[Any]) -> None:
    serializer = Serializer()
    serializer.register(DataclassHook())
    assert serializer.loads(serializer.dumps(values)) == values


def test_types_win_over_claims_and_unclaimed_classes_are_refused(
    serializer: Serializer,
) -> None:
    price = Price(Decimal("1.5"), frozenset({"a"}))
    claimed = serializer.dumps(price)
    serializer.register(PriceHook())
    by_type = serializer.dumps(price)
    assert by_type != claimed and serializer.loads(by_type) == price
    assert serializer.hook_for(Address).code == 65  # type: ignore[union-attr]
    with pytest.raises(SerializationError, match="register a TypeHook"):
        serializer.dumps(Unlisted(1))


def test_a_forged_name_is_a_decode_error(serializer: Serializer) -> None:
    forged = serializer.dumps(Address("x", dt.date(2020, 1, 1))).replace(b"Address", b"Unknown")
    with pytest.raises(DecodeError):
        serializer.loads(forged)
