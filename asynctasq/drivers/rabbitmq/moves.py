"""Moving a held delivery on: publish what replaces it, wait for the broker's
confirm, then acknowledge it. The order matters: a crash between the two leaves the
job twice (at-least-once), never nowhere. A move whose publish fails gives the
delivery back to its queue instead (RabbitMQ then counts that delivery as an attempt).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from asynctasq.drivers.rabbitmq.lane import Lane
from asynctasq.redaction import redact

__all__ = ["Move", "apply_moves"]

log = logging.getLogger("asynctasq.driver")


@dataclass(slots=True)
class Move:
    lane: Lane
    tag: int
    #: the publish that replaces the delivery (None: acknowledge only)
    publish: Awaitable[Any] | None
    what: str  # for the log, e.g. "retry of job <id>"


async def apply_moves(moves: Sequence[Move]) -> list[bool]:
    """Apply ``moves`` (publishes concurrently, then the acks); True where the
    delivery was acknowledged. One failing move never stops the others."""
    published = await asyncio.gather(
        *(_confirmed(m.publish) for m in moves), return_exceptions=True
    )
    done: list[bool] = []
    for move, result in zip(moves, published, strict=True):
        if isinstance(result, BaseException):
            log.warning(
                "rabbitmq: the %s was not confirmed (%s: %s); its delivery goes back to the queue",
                move.what,
                type(result).__name__,
                redact(str(result)),
            )
            await move.lane.give_back(move.tag)
            done.append(False)
            continue
        done.append(await move.lane.ack((move.tag,)))
    return done


async def _confirmed(publish: Awaitable[Any] | None) -> None:
    if publish is not None:
        await publish
