"""Batches with dependencies on Redis (enqueue_dag.lua), within a queue or across
queues.

Each queue's keys share one hash tag (keys.py), so one script can touch every key
of one queue, on Redis Cluster too: there a job's parents must be in its own queue,
and a flow's jobs in one queue, or no single script could settle a parent and
release its children atomically. A plain Redis (one server, one keyspace) has no
such limit: the jobs of a batch that are linked, in whatever queues, are stored by
one script, and a parent's settle releases or ends its children in other queues in
the same script (lua/_prelude.lua, queue_block()).

A parent stored earlier is looked for in its child's queue first (the script says
"unknown" when it is not there); only then is it located across the known queues,
and the script run again with the block of its queue declared.
"""

from __future__ import annotations

from collections.abc import Sequence

from asynctasq.drivers.dependencies import check_batch
from asynctasq.drivers.keys import QUEUE_KEYS, RedisKeys
from asynctasq.drivers.redis.codec import enqueue_dag_args
from asynctasq.drivers.redis.connection import Client
from asynctasq.drivers.redis.scripts import Call
from asynctasq.jobs import Job

__all__ = ["CLUSTER_LIMIT", "dag_call", "dag_groups", "locate_parents", "outside_parents"]

_JOBS, _DONE = QUEUE_KEYS.index("jobs"), QUEUE_KEYS.index("done")

#: why Redis Cluster refuses a dependency across queues, and what to do instead
CLUSTER_LIMIT = (
    "on Redis Cluster a job's parents must be in its own queue, and a flow's jobs in one "
    "queue: each queue's keys share one hash tag (one slot), and one script must settle "
    "a parent and release its children atomically. Put the pipeline's jobs in one queue "
    "and route work by task, or use a plain (non-cluster) Redis, where dependencies "
    "and flows may span queues"
)


def dag_groups(jobs: Sequence[Job], *, cluster: bool) -> list[list[str]]:
    """The queues whose jobs of this batch go to enqueue_dag.lua, grouped by script
    call: one group on plain Redis (the whole linked part of the batch is stored
    atomically), one per queue on Redis Cluster. Refuses, before anything is sent,
    what the scripts cannot honour."""
    if not any(job.depends_on or job.flow_id for job in jobs):
        return []
    flows = {job.flow_id for job in jobs if job.flow_id}
    if len(flows) > 1:
        raise ValueError("one batch holds one flow: add each flow by its own add_flow()")
    check_batch(jobs)
    queue_of = {job.id: job.queue for job in jobs}
    queues = set(queue_of.values())
    if cluster and flows and len(queues) > 1:
        raise ValueError(f"the flow's jobs are in queues {sorted(queues)}: {CLUSTER_LIMIT}")
    linked: dict[str, None] = {}  # (ordered: the first holds a flow's record)
    for job in jobs:
        if not (job.depends_on or job.flow_id):
            continue
        linked[job.queue] = None
        for parent in job.depends_on:
            queue = queue_of.get(parent, job.queue)
            if queue != job.queue and cluster:
                raise ValueError(
                    f"job {job.id} (queue {job.queue!r}) depends on {parent} (queue "
                    f"{queue!r}): {CLUSTER_LIMIT}"
                )
            linked[queue] = None  # a parent of the batch is stored by the same script
    for queue in linked:
        if any(job.unique_key for job in jobs if job.queue == queue):
            raise ValueError(
                f"queue {queue!r}: a batch with depends_on cannot hold unique keys on "
                "Redis yet; dispatch the jobs with unique keys in a batch of their own"
            )
    return [[queue] for queue in linked] if cluster else [list(linked)]


def dag_call(
    keys: RedisKeys,
    jobs: Sequence[Job],
    queues: list[str],
    now: float,
    retention: float,
    located: dict[str, str] | None = None,
) -> tuple[Call, list[int]]:
    """The enqueue_dag call storing the jobs of ``queues`` (and the indexes of those
    jobs in ``jobs``); ``located``: parent id -> its queue, for parents stored
    earlier outside their child's queue (their queues' blocks are declared too)."""
    indexes = [i for i, job in enumerate(jobs) if job.queue in queues]
    declared = list(dict.fromkeys([*queues, *(located or {}).values()]))
    blocks = {queue: n for n, queue in enumerate(declared, start=1)}
    where = {parent: blocks[queue] for parent, queue in (located or {}).items()}
    batch = [jobs[i] for i in indexes]
    args = enqueue_dag_args(batch, now, retention, blocks=blocks, located=where)
    block_keys = [key for queue in declared for key in keys.queue(queue)]
    return Call("enqueue_dag", block_keys, args), indexes


def outside_parents(jobs: Sequence[Job]) -> list[str]:
    """The parents named by these jobs that are not among them (stored earlier)."""
    ids = {job.id for job in jobs}
    return list(dict.fromkeys(p for job in jobs for p in job.depends_on if p not in ids))


async def locate_parents(
    client: Client, keys: RedisKeys, queues: Sequence[str], parents: Sequence[str]
) -> dict[str, str]:
    """parent id -> the queue holding it, stored or remembered as completed (in one
    pipelined round trip over the known queues); unknown ids are left out."""
    if not parents or not queues:
        return {}
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        block = keys.queue(queue)
        for parent in parents:
            pipe.hexists(block[_JOBS], parent)
            pipe.zscore(block[_DONE], parent)
    replies = iter(await pipe.execute())
    found: dict[str, str] = {}
    for queue in queues:
        for parent in parents:
            stored, done = next(replies), next(replies)
            if stored or done is not None:
                found.setdefault(parent, queue)
    return found
