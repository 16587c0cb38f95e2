"""Deduplication modes (``unique_mode=``, docs/flow-control.md): the rule every broker
applies when a job with a ``unique_key`` is dispatched.

- ``until_finished`` (the default, today's ``unique_key``): a duplicate is refused
  while a job holding the key is unfinished (waiting, blocked or running).
- ``until_started``: a duplicate is refused while the holder is *waiting* to run
  (pending, scheduled or blocked, a retry's wait included); once it runs, a new job
  with the key is accepted.
- ``throttle``: one job per key per window: the first accepted job holds the key for
  ``unique_for`` seconds from its dispatch, whatever becomes of it meanwhile.
- ``debounce``: the last dispatch in a window wins: the first job is delayed by
  ``unique_for`` seconds; a duplicate dispatched while it still waits replaces its
  payload (and its ttl) and pushes its run time to now + ``unique_for``.

A refused duplicate stores nothing: the caller gets the holder's id. The three new
modes keep their keys in a table of their own (``key -> holder id, mode, until``), a
namespace apart from ``until_finished`` keys; each broker reads and writes it in the
same atomic step as the enqueue (Lua, one SQL transaction, one MongoDB transaction).
"""

from __future__ import annotations

from typing import Final

from asynctasq.checks import check_seconds

__all__ = [
    "DEBOUNCE",
    "MODES",
    "STORED_MODES",
    "THROTTLE",
    "UNTIL_FINISHED",
    "UNTIL_STARTED",
    "WAITING_STATES",
    "WINDOWED",
    "check_unique",
    "holds",
    "lock_until",
]

UNTIL_FINISHED: Final = "until_finished"
UNTIL_STARTED: Final = "until_started"
THROTTLE: Final = "throttle"
DEBOUNCE: Final = "debounce"
MODES = frozenset({UNTIL_FINISHED, UNTIL_STARTED, THROTTLE, DEBOUNCE})
#: the modes a job carries to its broker (until_finished travels as None: the
#: broker's unique index, as before)
STORED_MODES = frozenset({UNTIL_STARTED, THROTTLE, DEBOUNCE})
#: the modes that need a window (``unique_for``)
WINDOWED = frozenset({THROTTLE, DEBOUNCE})
#: the stored states of a job waiting to run (SQL stores blocked as "waiting")
WAITING_STATES = frozenset({"pending", "scheduled", "blocked", "waiting"})


def check_unique(mode: str | None, unique_for: float | None) -> tuple[str | None, float | None]:
    """``(mode, window)`` as a job carries them: until_finished (or None) becomes
    (None, None); ValueError for an unknown mode or a window that is missing or
    given where it means nothing."""
    if mode is None or mode == UNTIL_FINISHED:
        if unique_for is not None:
            raise ValueError(
                f"unique_for={unique_for!r} needs unique_mode='throttle' or 'debounce' "
                f"(unique_mode is {mode or UNTIL_FINISHED!r})"
            )
        return None, None
    if mode not in MODES:
        raise ValueError(
            f"unique_mode={mode!r} is not valid: expected one of {', '.join(sorted(MODES))}"
        )
    if mode in WINDOWED:
        if unique_for is None:
            raise ValueError(f"unique_mode={mode!r} needs unique_for= (the window, in seconds)")
        return mode, check_seconds("unique_for", unique_for, positive=True)
    if unique_for is not None:
        raise ValueError(f"unique_for= means nothing with unique_mode={mode!r}: drop it")
    return mode, None


def lock_until(mode: str, unique_for: float | None, now: float) -> float | None:
    """When a lock taken at ``now`` stops holding by time alone (throttle only)."""
    return now + unique_for if mode == THROTTLE and unique_for is not None else None


def holds(mode: str, holder_state: str | None, until: float | None, now: float) -> bool:
    """Whether a lock of ``mode`` still refuses duplicates: throttle until its
    ``until``; the others while the holder (``holder_state``: its stored state, None
    when it is gone) waits to run."""
    if mode == THROTTLE:
        return until is not None and now < until
    return holder_state in WAITING_STATES
