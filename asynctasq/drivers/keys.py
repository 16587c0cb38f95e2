"""Every Redis key the Redis driver uses, in one place.

Keys of one queue share the hash tag ``{<queue>}``, so Redis Cluster stores them in
one slot and one Lua script can touch them all. The scripts receive a queue's keys
as one block of ``len(QUEUE_KEYS)`` KEYS, always in the order of ``QUEUE_KEYS``
(the prelude of ``lua/`` names the same positions). Keys shared by every queue use
the tag ``{#global}``; ``#`` cannot appear in a queue name, so no queue shares it.

Per queue ``Q`` (``P`` is the prefix, default ``asynctasq``):

====================  ======  ===================================================
key                   type    holds
====================  ======  ===================================================
``P:{Q}:ready``       zset    jobs due now; score = priority, member = run key
                              (16-digit run_at in microseconds) + job id, so equal
                              priorities pop oldest ``run_at`` first
``P:{Q}:scheduled``   zset    jobs waiting for ``run_at``; score = run_at, member =
                              the same run key + id; moved to ``ready`` when due
``P:{Q}:active``      zset    reserved jobs; score = lease_until, member = id
``P:{Q}:jobs``        hash    id -> the job's record: two MessagePack values,
                              "meta" (an array of ``META_FIELDS``, the mutable
                              fields the scripts rewrite) then "data" (task,
                              payload, timeout, depends_on, expires_at, and
                              a flow's job its flow id and name: only Python
                              reads it)
``P:{Q}:errors``      hash    id -> last error (retried or dead-lettered jobs;
                              at most ``sanitize.MAX_ERROR_CHARS`` characters);
                              a corrupt record's reason starts "corrupt job
                              record: " (``lua/_prelude.lua``, bury())
``P:{Q}:results``     hash    id -> result of a kept completed job
``P:{Q}:completed``   zset    kept completed jobs; score = finished_at (dropped
                              after ``completed_ttl``)
``P:{Q}:failed``      zset    the dead-letter set; score = finished_at (dropped
                              after ``dead_letter_ttl`` or beyond
                              ``dead_letter_max``, oldest first)
``P:{Q}:cancelled``   zset    cancelled jobs; score = finished_at (same bounds)
``P:{Q}:unique``      hash    unique_key -> id of the unfinished job holding it
``P:{Q}:wake``        list    wake-up tokens: idle workers BLPOP it; capped at
                              ``WAKE_CAP`` entries
``P:{Q}:paused``      string  present while the queue is paused
``P:{Q}:audit``       string  "<HSCAN cursor> <time>": where the audit of the
                              jobs hash (recover.lua) goes on, and when
``P:{Q}:edges``       zset    dependencies: "<parent id>\\0<child id>" (score 0,
                              read by lex range) while the child is blocked;
                              "<parent id>\\0<child id>\\0<child's queue>" when
                              the child is in another queue (plain Redis only:
                              redis/linking.py)
``P:{Q}:waits``       hash    blocked child id -> its unfinished parents (a
                              count); "!<id>" -> its on_parent_failure when not
                              "fail"
``P:{Q}:done``        zset    completed jobs that were deleted; score =
                              finished_at (kept 24 h, for children dispatched
                              later); their results are in ``results``
``P:{Q}:expiring``    zset    waiting jobs with a ttl; score = expires_at,
                              member = id (expire.lua moves those past it to
                              expired; an entry whose job moved on is dropped)
``P:{Q}:flows``       hash    flow id -> MessagePack [job ids, names] of a flow
                              (FlowProducer; enqueue_dag.lua stores it)
``P:{Q}:flows_age``   zset    flow id -> when added (flows are forgotten after
                              the result retention)
``P:{Q}:blocked``     zset    the ids of the children ``waits`` counts (score 0,
                              read by rank and lex range): pages of blocked jobs
                              in id order without reading every id; kept with
                              ``waits`` by the scripts, built from it once when
                              an older version left blocked children without it
====================  ======  ===================================================

Shared by every queue:

===========================  ======  ==============================================
``P:{#global}:queues``       set     every queue that holds or held jobs
``P:{#global}:workers``      zset    worker id -> heartbeat expiry (epoch seconds)
``P:{#global}:worker-info``  hash    worker id -> WorkerInfo (MessagePack array)
``P:{#global}:schedules``    hash    schedule id -> its queue (where its keys are)
===========================  ======  ==============================================

Schedules (capability Schedules) of queue ``Q``, outside the queue block so the
scripts that never touch them do not carry them: ``P:{Q}:schedule-defs`` (hash, id
-> definition JSON), ``P:{Q}:schedule-next`` (hash, id -> next slot), and
``P:{Q}:schedule-paused`` (hash, id -> "1"); schedule.lua reads them after the block.

Concurrency keys (capability ConcurrencyKeys) of queue ``Q``: ``P:{Q}:slots:<key>``
(set of the ids of the jobs holding the key's slots; a member whose job is no longer
active is dropped by the next slot.lua that reads it; the set goes with its last one).
"""

from __future__ import annotations

import re
from functools import lru_cache

from asynctasq.jobs import validate_name

__all__ = [
    "META_FIELDS",
    "QUEUE_KEYS",
    "WAKE_CAP",
    "RedisKeys",
    "validate_prefix",
]

QUEUE_KEYS = (
    "ready",
    "scheduled",
    "active",
    "jobs",
    "errors",
    "results",
    "completed",
    "failed",
    "cancelled",
    "unique",
    "wake",
    "paused",
    "audit",
    # job dependencies (workflows, issue 15)
    "edges",
    "waits",
    "done",
    # job expiry (ttl, issue 16): the background sweep's index
    "expiring",
    # flows (FlowProducer, issue 15)
    "flows",
    "flows_age",
    # the index of blocked jobs (pages of them by rank)
    "blocked",
)

#: the fields of a job's meta, in order (1-based positions in Lua); ``False``
#: stands for "none", because a Lua array cannot hold nil
META_FIELDS = (
    "state",
    "attempts",
    "max_attempts",
    "priority",
    "run_at",
    "worker_id",
    "finished_at",
    "unique_key",
    "created_at",
    "progress",
)

_JOBS, _READY, _WAKE = (QUEUE_KEYS.index(kind) for kind in ("jobs", "ready", "wake"))

#: most wake-up tokens kept per queue: how many idle workers one enqueue can wake
WAKE_CAP = 16

_GLOBAL_TAG = "{#global}"


def validate_prefix(prefix: str) -> str:
    if not prefix or "{" in prefix or "}" in prefix or any(c.isspace() for c in prefix):
        raise ValueError(
            f"invalid Redis key prefix {prefix!r} (ASYNCTASQ_REDIS_PREFIX): use a non-empty "
            "name without braces or spaces, e.g. 'asynctasq' or 'myapp:jobs'"
        )
    return prefix


class RedisKeys:
    """Key names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = validate_prefix(prefix)
        self.registry = f"{prefix}:{_GLOBAL_TAG}:queues"
        self.workers = f"{prefix}:{_GLOBAL_TAG}:workers"
        self.worker_info = f"{prefix}:{_GLOBAL_TAG}:worker-info"
        self.schedule_index = f"{prefix}:{_GLOBAL_TAG}:schedules"
        #: queue -> its stored rate limit ("limit interval burst")
        self.rate_limits = f"{prefix}:{_GLOBAL_TAG}:rate-limits"
        #: pub/sub channel: a settle that ended jobs publishes its queue's jobs key
        #: there, which wakes result waiters (Results; not a key)
        self.finished = f"{prefix}:finished"
        self._queue = lru_cache(maxsize=4096)(self._queue_keys)

    def rate(self, key: str) -> str:
        """The token bucket of a rate limit key (one key: any Cluster slot will do)."""
        return f"{self.prefix}:rate:{key}"

    def queue(self, queue: str) -> tuple[str, ...]:
        """The KEYS block of one queue, in ``QUEUE_KEYS`` order."""
        return self._queue(queue)

    def _queue_keys(self, queue: str) -> tuple[str, ...]:
        validate_name("queue", queue)
        return tuple(f"{self.prefix}:{{{queue}}}:{kind}" for kind in QUEUE_KEYS)

    def slots(self, queue: str, key: str) -> str:
        """The set of job ids holding the slots of a concurrency key in ``queue``."""
        return f"{self.prefix}:{{{validate_name('queue', queue)}}}:slots:{key}"

    def schedules(self, queue: str) -> tuple[str, str, str]:
        """The schedule hashes of ``queue`` (definitions, next slots, paused)."""
        tag = f"{self.prefix}:{{{validate_name('queue', queue)}}}"
        return f"{tag}:schedule-defs", f"{tag}:schedule-next", f"{tag}:schedule-paused"

    def wake(self, queue: str) -> str:
        return self.queue(queue)[_WAKE]

    def due(self, queue: str) -> tuple[str, str, str]:
        """enqueue_due.lua's KEYS: the queue's jobs hash, ready set and wake list (a
        dispatch sends three names, not the whole block)."""
        block = self.queue(queue)
        return block[_JOBS], block[_READY], block[_WAKE]

    @property
    def pattern(self) -> str:
        """SCAN MATCH pattern of every key under this prefix (for cleanup tools);
        glob characters of the prefix are escaped, so it matches nothing else."""
        escaped = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix)
        return f"{escaped}:*"
