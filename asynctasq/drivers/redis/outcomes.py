"""Settling a batch of outcomes so that one bad outcome never holds up the others.

settle.lua applies a whole chunk of outcomes in one call, and handles a corrupt job
record itself (it dead-letters it and refuses that outcome only). Should a call
fail all the same (an error the script raises, or an outcome that cannot even be
encoded), the chunk is split in two and each half sent again, down to a single
outcome; a single outcome that still fails is sent once more in a plainer form
(without its error text or result); one that fails even so is refused (False) and
logged, and its job comes back when its lease lapses. Every round halves a piece
or plainens or drops an outcome, so this always ends. A server that cannot take
writes at all (out of memory, read-only replica, busy, a lost connection) is not a
bad outcome: that error is raised, and the worker retries the whole batch later.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.exceptions import ResponseError

from asynctasq.jobs import Completed, Failed, Outcome, Retried

__all__ = ["settle_isolated", "unencodable"]

log = logging.getLogger("asynctasq.redis")

#: (queue, positions in the batch of the outcomes sent together)
Piece = tuple[str, list[int]]
#: one call per piece, run in one round trip; an error reply comes back in its place
Run = Callable[[list[tuple[str, list[Outcome]]]], Awaitable[list[Any]]]


class _Unencodable(Exception):
    """A piece whose outcomes could not be encoded (stands in for its reply)."""


def unencodable(exc: Exception) -> Exception:
    """What ``run`` puts in place of the reply of a piece it could not encode."""
    return _Unencodable(f"{type(exc).__name__}: {exc}")


def _bad_item(reply: Any) -> bool:
    """An error about this call's content (a Lua error: ERR), not about the server
    (OOM, READONLY, BUSY...) nor a script that does not compile (every call fails)."""
    if isinstance(reply, _Unencodable):
        return True
    return (
        type(reply) is ResponseError
        and getattr(reply, "status_code", "ERR") in ("ERR", None)
        and "Error compiling script" not in str(reply)
    )


#: settle.lua's answer for a completion it left for a later call (Driver.settle_bounded)
LEFT = 2


async def settle_isolated(
    outcomes: Sequence[Outcome], pieces: list[Piece], run: Run
) -> tuple[list[bool], list[int]]:
    """(accepted, the positions settle.lua left for a later call)."""
    items = list(outcomes)
    accepted = [False] * len(items)
    left: list[int] = []
    plainer_sent: set[int] = set()
    while pieces:
        replies = await run([(queue, [items[i] for i in idx]) for queue, idx in pieces])
        again: list[Piece] = []
        for (queue, idx), reply in zip(pieces, replies, strict=True):
            if not isinstance(reply, Exception):
                for i, ok in zip(idx, reply, strict=True):
                    if ok == LEFT:
                        left.append(i)
                    else:
                        accepted[i] = bool(ok)
            elif not _bad_item(reply):
                raise reply
            elif len(idx) > 1:
                half = len(idx) // 2
                again += [(queue, idx[:half]), (queue, idx[half:])]
            else:
                (i,) = idx
                plain = None if i in plainer_sent else _plainer(items[i], reply)
                if plain is None:
                    log.error(
                        "outcome %s of job %s cannot be stored (%s); its job returns when "
                        "its lease lapses",
                        type(items[i]).__name__,
                        items[i].job_id,
                        reply,
                    )
                else:
                    log.warning(
                        "outcome of job %s failed (%s); sent again without its error text "
                        "or result",
                        items[i].job_id,
                        reply,
                    )
                    items[i] = plain
                    plainer_sent.add(i)
                    again.append((queue, idx))
        pieces = again
    return accepted, sorted(left)


def _plainer(outcome: Outcome, error: Exception) -> Outcome | None:
    """The outcome without what may have made it fail (its text, its result)."""
    note = f"(the error text could not be stored: {type(error).__name__})"
    if isinstance(outcome, Retried | Failed):
        return dataclasses.replace(outcome, error=note)
    if isinstance(outcome, Completed) and outcome.result is not None:
        return dataclasses.replace(outcome, result=None)
    return None
