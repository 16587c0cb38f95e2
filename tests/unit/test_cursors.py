"""The cursors of ``job list`` and the dashboard (asynctasq/operations/cursors.py) and
the positions drivers check (asynctasq/drivers/positions.py): what is printed reads
back exactly; anything else is a ValueError."""

from __future__ import annotations

import base64

import pytest

from asynctasq.drivers.positions import check_position
from asynctasq.jobs import JobState
from asynctasq.operations.cursors import (
    KeyCursor,
    decode_any,
    decode_cursor,
    encode_cursor,
    encode_key,
    encode_position,
)


def test_every_kind_of_cursor_reads_back_exactly() -> None:
    assert decode_any(None) == 0 and decode_any("") == 0
    assert decode_any(encode_cursor(1234)) == 1234 == decode_cursor(encode_cursor(1234))
    at = 1_765_000_000.123456789
    assert decode_any(encode_position(at, "job-1")) == KeyCursor(None, (at, "job-1"))
    position = (-7, 0.1 + 0.2, "0190-ab")
    cursor = encode_key(JobState.SCHEDULED, position)
    assert decode_any(cursor) == KeyCursor(JobState.SCHEDULED, position)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    with pytest.raises(ValueError, match="a position, where an offset was due"):
        decode_cursor(cursor)


@pytest.mark.parametrize(
    "text",
    [
        "x1",
        "o",
        "o-1",
        "pinf|a",
        "p1.0|",
        "k",
        "k[]",
        'k["pending"]',
        'k["pending", 1]',
        'k["nope", [1]]',
        'k["pending", []]',
        'k["pending", [1, 2, 3, 4, 5]]',
        'k["pending", [true, 1.0, "x"]]',
        'k["pending", [null, 1.0, "x"]]',
        'k["pending", [[1], 1.0, "x"]]',
        'k["pending", [Infinity, 1.0, "x"]]',
        'k["pending", [1e999, 1.0, "x"]]',
        "k" + "[" * 100_000,
    ],
)
def test_a_cursor_edited_by_hand_is_a_value_error(text: str) -> None:
    cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_any(cursor)


def test_a_position_must_fit_the_drivers_listing() -> None:
    kinds = ("int", "float", "str")
    assert check_position(None, kinds) is None
    assert check_position([3, 2, "id"], kinds) == (3, 2.0, "id")
    for bad in (
        [1, 2.0],  # too short
        [1.5, 2.0, "id"],  # a priority is whole
        [2**31, 2.0, "id"],  # beyond any stored priority
        [True, 2.0, "id"],
        [1, "2.0", "id"],
        [1, float("nan"), "id"],
        [1, 10**400, "id"],
        [1, 2.0, 3],
        [1, 2.0, "a\x00b"],  # no text column takes NUL
        [1, 2.0, "\ud800"],  # nor a lone surrogate
        [1, 2.0, "x" * 1001],
    ):
        with pytest.raises(ValueError, match="invalid position"):
            check_position(bad, kinds)
