"""Deduplication modes on the SQL brokers (capability Deduplication), written once
for the three dialects; the rules are asynctasq/dedup.py's.

Storage (migration ``0007_dedup`` of each dialect): ``dedup`` holds one row per key
(``key``, ``job_id`` of the holder, ``mode``, ``until`` for throttle). A job with a
mode is stored with no ``unique_key`` in its row (the partial unique index of
``until_finished`` keys stays as it was): its key lives in ``dedup``.

Each job with a mode is enqueued by :func:`enqueue_deduplicated` in a transaction of
its own: the key's row is made to exist, then read under a row lock (``FOR
UPDATE``; SQLite's one writer serialises it anyway), the holder's state read under
its own row lock, and the job either refused (the holder's id returned; a debounce
moves the holder on) or inserted with the lock taken for it. Two producers racing
for one key queue on its row: the second sees what the first wrote.
"""

from __future__ import annotations

from asynctasq.dedup import DEBOUNCE, THROTTLE, holds, lock_until
from asynctasq.drivers.sql.dependencies import Steps, link_jobs
from asynctasq.drivers.sql.rows import job_params
from asynctasq.jobs import Job

__all__ = ["enqueue_deduplicated"]

_INSERTED = ("id", "task", "queue", "payload", "priority", "max_attempts", "run_at")
_INSERTED_TOO = ("created_at", "timeout", "depends_on", "expires_at")


def enqueue_deduplicated(job: Job, now: float) -> Steps:
    """Store ``job`` (it has a ``unique_mode``) unless its key is held; the id of the
    job stored, or of the holder."""
    key, mode = job.unique_key, job.unique_mode
    assert key is not None  # Job checks it
    assert mode is not None
    yield ("dedup_reserve", {"key": key})
    rows = yield ("dedup_lock", {"key": key})
    holder, held_mode, until = rows[0] if rows else ("", "", None)
    if holder == job.id:  # a retried call: stored already
        return job.id
    if holder:
        state = None
        if held_mode != THROTTLE:
            found = yield ("dep_lock_state", {"id": holder})
            state = found[0][0] if found else None
        if holds(held_mode, state, None if until is None else float(until), now):
            if held_mode == DEBOUNCE and mode == DEBOUNCE and state == "pending":
                moved = {"id": holder, "payload": job.payload, "run_at": job.run_at}
                yield ("dedup_replace", {**moved, "expires_at": job.expires_at})
                yield ("dedup_register", {"queue": job.queue})  # wakes its workers
            return holder
    yield ("dedup_register", {"queue": job.queue})
    params = job_params(job)
    yield ("dedup_insert", {name: params[name] for name in (*_INSERTED, *_INSERTED_TOO)})
    taken = {"key": key, "job_id": job.id, "mode": mode}
    yield ("dedup_take", {**taken, "until": lock_until(mode, job.unique_for, now)})
    if job.depends_on:
        yield from link_jobs([job], [job.id], now)
    return job.id
