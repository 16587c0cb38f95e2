"""Positions in a listing (``Inspection.list_from``): where a page starts.

A position is the sort key of one job in the listing of its state, as the driver
orders that listing: (priority, run_at, id) for a waiting job on the memory and SQL
brokers, (finish time, id) for a finished one, (score, member) of a sorted set on
Redis. The caller keeps it opaque (a cursor carries it, base64 text an operator may
edit by hand), so a driver checks the one it is given with :func:`check_position`:
the wrong shape is a ValueError, never a query that crashes or reads the wrong rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from asynctasq.checks import INT32_MAX
from asynctasq.jobs import Job

__all__ = ["Position", "Positioned", "check_position"]

#: one job's sort key in its listing (JSON scalars: a cursor carries it)
Position = tuple[int | float | str, ...]
#: a job of a page and its position (the next page starts just after it)
Positioned = tuple[Position, Job]

#: the kinds check_position knows: a whole number (a priority: 32 bits, as every
#: broker stores it), a finite number, text (an id: plain UTF-8 without NUL, which
#: every broker's text column takes)
_KINDS = frozenset({"int", "float", "str"})
_MAX_TEXT = 1000


def check_position(after: Sequence[object] | None, kinds: Sequence[str]) -> Position | None:
    """``after`` as a position of ``kinds`` (each "int", "float" or "str"),
    numbers made exact types; None stays None (from the start). ValueError when it
    does not fit: another driver's position, or a cursor edited by hand."""
    if after is None:
        return None
    if len(after) != len(kinds):
        raise ValueError(f"invalid position {after!r}: {len(kinds)} values expected")
    return tuple(_checked(value, kind, after) for value, kind in zip(after, kinds, strict=True))


def _checked(value: object, kind: str, after: object) -> int | float | str:
    assert kind in _KINDS, kind
    invalid = ValueError(f"invalid position {after!r}: {value!r} is not a {kind}")
    if isinstance(value, bool):
        raise invalid
    if kind == "int":
        if not isinstance(value, int) or not -INT32_MAX - 1 <= value <= INT32_MAX:
            raise invalid
        return value
    if kind == "str":
        if not isinstance(value, str) or len(value) > _MAX_TEXT or "\x00" in value:
            raise invalid
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate (JSON can spell one)
            raise invalid from None
        return value
    if not isinstance(value, int | float):
        raise invalid
    try:
        number = float(value)
    except OverflowError:  # a whole number beyond any float
        raise invalid from None
    if not math.isfinite(number):
        raise invalid
    return number
