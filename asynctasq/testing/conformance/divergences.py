"""Where a broker is known to differ from the reference, and why.

The lifecycle model test holds every broker to the in-memory reference. A difference
that is a real limit of the broker (RabbitMQ keeps delays in the broker's own timers)
or a bug not yet fixed is declared here, with its reason, instead of being skipped
silently: the model test then stops generating the operations that would show it,
and its report lists the declaration. A declared bug is removed once fixed (the test
then holds the broker to the reference again).

Each declaration names a *restriction* the model understands:

``real-time-delays``
    scheduled jobs come due on the broker's clock, not the driver's: no future
    ``run_at`` (delayed enqueue, retry later) and no "advance time until due".
``claims-trickle``
    a claim may return fewer jobs than are due (deliveries still on their way), in
    arrival order: the model's claims take every due job of their queues and claim
    again, briefly, until the broker handed out what the reference did; the ids are
    compared as a set, not in order.
``one-queue-set``
    one driver instance claims from one list of queues: the model's claims all name
    both queues, in one order.
``unique-keys-per-queue``
    a unique key is unique within its queue, not across queues.
``atomic-per-queue``
    a batch is stored atomically per queue, not as a whole: a batch refused for one
    queue (an unknown parent) may leave another queue's jobs stored. The model's
    batches with ``depends_on`` hold one queue's jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KNOWN_DIVERGENCES", "RESTRICTIONS", "Divergence", "restrictions_for"]

RESTRICTIONS = frozenset(
    {
        "real-time-delays",
        "claims-trickle",
        "one-queue-set",
        "unique-keys-per-queue",
        "atomic-per-queue",
    }
)


@dataclass(frozen=True)
class Divergence:
    broker: str  # the target's name
    restriction: str  # one of RESTRICTIONS: how the model works around it
    reason: str  # why: a broker limit (documented), or a bug (for the broker's owner)
    bug: bool = False  # a bug to fix (True) or a limit of the broker (False)

    def __post_init__(self) -> None:
        if self.restriction not in RESTRICTIONS:
            raise ValueError(f"unknown restriction {self.restriction!r}: one of {RESTRICTIONS}")


KNOWN_DIVERGENCES: tuple[Divergence, ...] = (
    *(
        Divergence(
            redis,
            "unique-keys-per-queue",
            "a unique key is held in its queue's hash (P:{Q}:unique), so that one queue's "
            "keys live in one Redis Cluster slot (docs/drivers/redis.md)",
        )
        for redis in ("redis", "redis-cluster")
    ),
    *(
        Divergence(
            redis,
            "atomic-per-queue",
            "one script stores one queue's jobs (its keys share a hash tag: one Redis "
            "Cluster slot); a batch spanning queues is one script per queue (on plain "
            "Redis, one for all the jobs linked by depends_on), so a queue's part refused "
            "(an unknown parent) leaves the other queues' parts stored",
        )
        for redis in ("redis", "redis-cluster")
    ),
    Divergence(
        "rabbitmq",
        "real-time-delays",
        "delays are per-delay TTL queues dead-lettering back (docs/drivers/rabbitmq.md): "
        "the broker's timers, which a driver clock cannot move",
    ),
    Divergence(
        "rabbitmq",
        "claims-trickle",
        "a claim hands out the deliveries that have reached this process (the others "
        "arrive a moment later), band by band in arrival order: priority is three bands "
        "(< 0, 0, > 0) and a retry due in the past joins the end of its band",
    ),
    Divergence(
        "rabbitmq",
        "one-queue-set",
        "each list of queues a process claims from gets consumers of its own, which "
        "prefetch: a job back on a queue may sit in the buffer of another list's "
        "consumer, unseen by a claim naming a different list, until that consumer's "
        "channel closes (a worker claims from one list all its life)",
    ),
)


def restrictions_for(broker: str, extra: tuple[Divergence, ...] = ()) -> dict[str, Divergence]:
    """The restrictions declared for ``broker`` (here and in ``extra``), by name."""
    return {d.restriction: d for d in (*KNOWN_DIVERGENCES, *extra) if d.broker == broker}
