"""Batched writes that isolate a bad item instead of failing the batch.

A batch of outcomes (or lease renewals) is one statement. Should the broker refuse it
for a reason in the data (a value it cannot store, a constraint a row breaks), the
batch is split in halves and each half written on its own, down to the one item at
fault, which is then stored as best it can be: its fallbacks are tried in order (an
outcome with its text made plainer; then a failure saying the outcome could not be
stored). The other items are written as if the bad one had never been there, and
nothing is retried forever: an item whose every fallback is refused is given up.

Errors that say the broker is unreachable are not data errors: they end the whole
call, and the caller retries the batch later, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from asynctasq.drivers.sanitize import sanitize_text
from asynctasq.jobs import Completed, Failed, Outcome, Retried

__all__ = [
    "OUTCOME_NOT_STORED",
    "isolate",
    "outcome_fallbacks",
    "renew_isolated",
    "settle_isolated",
]

log = logging.getLogger("asynctasq.drivers")

T = TypeVar("T")
R = TypeVar("R")

#: the start of the error a job gets when its own outcome could not be stored
OUTCOME_NOT_STORED = "OutcomeNotStored"
#: an error text made plainer: ASCII, short
_PLAIN_CHARS = 4096


async def isolate(
    items: Sequence[T],
    write: Callable[[Sequence[T]], Awaitable[list[R]]],
    *,
    is_data_error: Callable[[BaseException], bool],
    fallbacks: Callable[[T, BaseException], list[T]],
    given_up: R,
) -> list[R]:
    """``write(items)``, one result per item; on a data error, halves written apart
    down to the item at fault, then its ``fallbacks`` one at a time (``given_up`` as
    its result when every one is refused)."""
    try:
        return await write(items)
    except Exception as exc:
        if not is_data_error(exc):
            raise
        refusal = exc
    if len(items) > 1:  # each half on its own, down to the item at fault
        middle = len(items) // 2
        results: list[R] = []
        for half in (items[:middle], items[middle:]):
            results += await isolate(
                half, write, is_data_error=is_data_error, fallbacks=fallbacks, given_up=given_up
            )
        return results
    (item,) = items
    for fallback in fallbacks(item, refusal):
        try:
            return await write([fallback])
        except Exception as exc:
            if not is_data_error(exc):
                raise
            refusal = exc
    shown = repr(item)
    log.error(
        "the broker refused %s and every fallback of it: %s",
        shown if len(shown) <= 200 else f"{shown[:200]}...",
        _brief(refusal),
    )
    return [given_up]


async def settle_isolated(
    outcomes: Sequence[Outcome],
    write: Callable[[Sequence[Outcome]], Awaitable[list[bool]]],
    is_data_error: Callable[[BaseException], bool],
) -> list[bool]:
    """A settle() batch: an outcome the broker refuses is stored as a fallback (or
    given up: False), the others as if it had never been there."""
    return await isolate(
        outcomes,
        write,
        is_data_error=is_data_error,
        fallbacks=outcome_fallbacks,
        given_up=False,
    )


async def renew_isolated(
    job_ids: Sequence[str],
    extend: Callable[[Sequence[str]], Awaitable[list[bool]]],
    is_data_error: Callable[[BaseException], bool],
) -> list[str]:
    """A renew() batch (``extend``: held or not, per id); an id the broker refuses is
    reported as no longer held. Returns the ids held, each once, in order."""
    unique = list(dict.fromkeys(job_ids))
    held = await isolate(
        unique, extend, is_data_error=is_data_error, fallbacks=lambda _id, _exc: [], given_up=False
    )
    return [job_id for job_id, ok in zip(unique, held, strict=True) if ok]


def _brief(exc: BaseException) -> str:
    return sanitize_text(f"{type(exc).__name__}: {exc}", max_chars=500, allow_nul=False)


def _plain(text: str) -> str:
    ascii_text = text.encode("ascii", "backslashreplace").decode("ascii")
    return sanitize_text(ascii_text, max_chars=_PLAIN_CHARS, allow_nul=False)


def outcome_fallbacks(outcome: Outcome, refusal: BaseException) -> list[Outcome]:
    """What to store instead of an outcome the broker refused, best first: the same
    outcome with plain text (ASCII, short); then a failure naming the refusal; then
    one naming only its kind (a broker's message may quote the value it refused)."""
    fence = (outcome.job_id, outcome.worker_id, outcome.attempt)
    found: list[Outcome] = []
    if isinstance(outcome, Retried | Failed) and outcome.error != _plain(outcome.error):
        plain = _plain(outcome.error)
        if isinstance(outcome, Retried):
            found.append(Retried(*fence, queue=outcome.queue, run_at=outcome.run_at, error=plain))
        else:
            found.append(Failed(*fence, queue=outcome.queue, error=plain))
    what = "its result" if isinstance(outcome, Completed) else "it"
    first_line = str(refusal).strip().split("\n", 1)[0][:200]
    for told in (f"{type(refusal).__name__}: {first_line}", type(refusal).__name__):
        error = (
            f"{OUTCOME_NOT_STORED}: the job's {type(outcome).__name__.lower()} outcome could "
            f"not be stored, so the job was failed instead; the broker refused {what} "
            f"({told})"
        )
        found.append(Failed(*fence, queue=outcome.queue, error=_plain(error)))
    return found
