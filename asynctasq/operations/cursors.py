"""The opaque cursors of ``job list`` and the dashboard: where the next page starts.

Three kinds, each URL-safe base64 of text that starts with its letter:

* ``o<offset>``: an offset into the listing (drivers without positions; and any
  cursor printed before positions existed, still honoured);
* ``p<finish time>|<id>``: a finished job, printed by the finished-state listings
  before every state had positions (read as a position in the listing's own state);
* ``k<JSON>``: ``[state, position]``, the state the next page starts in and the
  position there (``Inspection.list_from``), JSON scalars only.

A cursor is text an operator can edit: anything that does not decode to one of
these, exactly, is a ValueError ("invalid cursor"), never a crash further down.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass

from asynctasq.drivers.positions import Position
from asynctasq.jobs import JobState

__all__ = [
    "KeyCursor",
    "decode_any",
    "decode_cursor",
    "encode_cursor",
    "encode_key",
    "encode_position",
]

#: the most values a position holds (every driver's has 2 or 3)
_MAX_POSITION = 4
_STATES = frozenset(state.value for state in JobState)


@dataclass(frozen=True, slots=True)
class KeyCursor:
    """The next page starts just after ``position`` in the listing of ``state``
    (None: the listing's own state, from a ``p`` cursor)."""

    state: JobState | None
    position: Position


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def encode_cursor(offset: int) -> str:
    return _encode(f"o{offset}")


def encode_position(at: float, job_id: str) -> str:
    """A cursor at a finished job (its finish time and id), as printed before every
    state had positions (``encode_key`` now)."""
    return _encode(f"p{at!r}|{job_id}")


def encode_key(state: JobState, position: Position) -> str:
    return _encode("k" + json.dumps([state.value, list(position)], separators=(",", ":")))


def decode_cursor(cursor: str | None) -> int:
    """The offset of an offset cursor (0 for none); ValueError for anything else."""
    found = decode_any(cursor)
    if not isinstance(found, int):
        raise ValueError(f"invalid cursor {cursor!r}: a position, where an offset was due")
    return found


def decode_any(cursor: str | None) -> int | KeyCursor:
    """An offset (0 for none), or a position."""
    if not cursor:
        return 0
    invalid = ValueError(f"invalid cursor {cursor!r}: pass the next_cursor a listing printed")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, body = text[:1], text[1:]
        if kind == "k":
            return _key(json.loads(body), invalid)
        if kind == "p":
            at, _, job_id = body.partition("|")
            when = float(at)
            if not job_id or not math.isfinite(when):
                raise invalid
            return KeyCursor(None, (when, job_id))
        offset = int(body) if kind == "o" else -1
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, RecursionError):
        raise invalid from None
    if offset < 0:
        raise invalid
    return offset


def _key(data: object, invalid: ValueError) -> KeyCursor:
    """A ``k`` cursor's JSON, checked: a known state and a short list of scalars
    (the driver checks that the position fits its listing)."""
    if not isinstance(data, list) or len(data) != 2:
        raise invalid
    state, position = data
    if not isinstance(state, str) or state not in _STATES:
        raise invalid
    if not isinstance(position, list) or not 0 < len(position) <= _MAX_POSITION:
        raise invalid
    for value in position:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (isinstance(value, str) or (number and math.isfinite(value))):
            raise invalid
    return KeyCursor(JobState(state), tuple(position))
